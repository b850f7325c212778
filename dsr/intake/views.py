"""Public start page."""
from __future__ import annotations

from flask import Blueprint, current_app, render_template

from dsr.auth.policy import public
from dsr.models import Right

bp = Blueprint("intake", __name__)


@bp.get("/")
@public
def index():
    return render_template("intake/index.html", controller=current_app.extensions["dsr.controller"],
                           rights=list(Right))
