"""/staff/register: staff record a request that came by e-mail, post, phone or in person, with its
real time of receipt (on the intake blueprint: it is filing, by another channel)."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for

from dsr.auth.roles import staff_decider
from dsr.cases.pages import controller
from dsr.db import get_session
from dsr.intake import registration
from dsr.intake.staff_forms import FOR_SOMEONE_ELSE, RegisterForm
from dsr.intake.views import bp
from dsr.models import Channel, Right
from dsr.representation.files import max_bytes, size_text
from dsr.representation.service import InvalidRepresentative, clean_representative
from dsr.representation.uploads import form_with_upload
from dsr.sitewide import csrf


@bp.route("/staff/register", methods=["GET", "POST"])
@staff_decider
@csrf.exempt  # checked by form_with_upload, once this page's upload limit is in force
def register():
    form = RegisterForm() if request.method == "GET" else form_with_upload(RegisterForm)
    if form is None:
        form = RegisterForm(formdata=None)
        form.authorisation.errors = [f"The file is larger than {size_text(max_bytes())}, the most you can upload."]
        return render_template("intake/register.html", form=form), 413
    if request.method == "POST" and form.validate():
        session = get_session()
        try:
            case = registration.register_request(
                session, _registration(form), actor=g.staff, controller=controller(),
                identity_method=None if form.identity.data == "not_yet" else form.identity.data,
                authorisation=form.authorisation.data or None,
            )
        except registration.RegistrationError as exc:
            session.rollback()
            getattr(form, exc.field).errors.append(str(exc))
        except InvalidRepresentative as exc:
            session.rollback()
            for name, message in exc.errors.items():
                form[name].errors.append(message)
        else:
            session.commit()
            flash(f"Request {case.reference} registered; its deadline is {case.deadline_on}.", "success")
            return redirect(url_for("cases.detail", case_id=case.id))
    return render_template("intake/register.html", form=form), 400 if form.errors else 200


def _registration(form: RegisterForm) -> registration.Registration:
    """The form's answers; raises RegistrationError or InvalidRepresentative for what it cannot take."""
    received_at = registration.receipt_instant(form.received_date.data, form.received_time.data,
                                               controller().timezone)
    representative = None
    if form.filed_by.data == FOR_SOMEONE_ELSE:
        representative = clean_representative(
            name=form.rep_name.data, relationship=form.relationship.data, email=form.rep_email.data,
            postal=form.rep_postal_address.data, note=form.relationship_note.data, email_required=False)
    return registration.Registration(
        right=Right(form.right.data),
        channel=Channel(form.channel.data),
        received_at=received_at,
        email=form.email.data,
        language=form.language.data,
        phone=form.phone.data,
        full_name=form.full_name.data,
        postal_address=form.postal_address.data,
        details={"request": asked} if (asked := (form.details.data or "").strip()) else {},
        representative=representative,
    )
