"""/staff/register: staff record a request that came by e-mail, post, phone or in person, with its
real time of receipt (on the intake blueprint: it is filing, by another channel)."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, url_for

from dsr.auth.roles import staff_decider
from dsr.cases.pages import controller
from dsr.db import get_session
from dsr.intake import registration
from dsr.intake.staff_forms import RegisterForm
from dsr.intake.views import bp
from dsr.models import Channel, Right


@bp.route("/staff/register", methods=["GET", "POST"])
@staff_decider
def register():
    form = RegisterForm()
    if form.validate_on_submit():
        session = get_session()
        facts = controller()
        try:
            received_at = registration.receipt_instant(
                form.received_date.data, form.received_time.data, facts.timezone
            )
            data = registration.Registration(
                right=Right(form.right.data),
                channel=Channel(form.channel.data),
                received_at=received_at,
                email=form.email.data,
                language=form.language.data,
                phone=form.phone.data,
                full_name=form.full_name.data,
                details={"request": form.details.data.strip()} if form.details.data.strip() else {},
            )
            identity = None if form.identity.data == "not_yet" else form.identity.data
            case = registration.register_request(
                session, data, actor=g.staff, controller=facts, identity_method=identity
            )
        except registration.RegistrationError as exc:
            session.rollback()
            getattr(form, exc.field).errors.append(str(exc))
        else:
            session.commit()
            flash(f"Request {case.reference} registered; its deadline is {case.deadline_on}.", "success")
            return redirect(url_for("cases.detail", case_id=case.id))
    return render_template("intake/register.html", form=form), 400 if form.errors else 200
