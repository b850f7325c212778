"""Staff pages of the export: a manual system's search result, the bundle's review download, its release
to the subject (with a fresh login), a partial bundle chosen explicitly, and a failed assembly again.

The progress per system is a panel of the case page (templates/export/_panel.html, dsr.export.review). Views validate,
load or 404, call one service, commit, then redirect; the services audit.
"""

from __future__ import annotations

from flask import abort, current_app, g, redirect, render_template, request, url_for
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms import BooleanField
from wtforms.validators import DataRequired

from dsr.auth import sessions
from dsr.auth.roles import staff_decider
from dsr.cases.labels import label
from dsr.cases.pages import case_or_404, staff_case_view, to_case, today
from dsr.cases.presenters import urgency
from dsr.cases.states import IllegalTransition
from dsr.db import get_session
from dsr.export.assembly import PartialNotAllowed, assemble_partial
from dsr.export.assembly import retry_assembly as restart_assembly
from dsr.export.delivery import BundleNotFound, open_staff_preview
from dsr.export.manual import ManualTaskError, complete_manual_task
from dsr.export.pages import STAFF_CASE, attachment, bp
from dsr.export.release import ReleaseRefused, release_to_subject
from dsr.export.review import current_bundle, export_panel, manual_task_of
from dsr.forms import PortalForm
from dsr.i18n import staff_time
from dsr.models import BundleStatus, TaskState
from dsr.sitewide import csrf

#: room for the form's other fields and multipart headers above the file itself
UPLOAD_OVERHEAD_BYTES = 64 * 1024


class UploadForm(PortalForm):
    file = FileField(_l("File with what you found"), [FileRequired(_l("Choose the file with what you found."))])


class NothingFoundForm(PortalForm):
    confirm = BooleanField(
        _l("I searched this system and found nothing about the subject"),
        [DataRequired(_l("Tick the box to confirm that you searched and found nothing."))],
    )


class ConfirmForm(PortalForm):
    """A confirmation button: only the CSRF token."""


def _size_text(size: int) -> str:
    if size >= 1_000_000:
        return _("%(size)s MB", size=format_decimal(round(size / 1_000_000)))
    return _("%(size)s bytes", size=format_decimal(size))


# --- a manual system ("shared mailbox"): upload what was found, or confirm nothing was -----------------


@bp.route(f"{STAFF_CASE}/tasks/<int:task_id>/manual", methods=["GET", "POST"])
@staff_decider
@csrf.exempt  # checked below, once the upload limit of this page is in force
def manual_task(case_id: int, task_id: int):
    case = case_or_404(case_id)
    found = manual_task_of(get_session(), case, task_id)
    if found is None:
        abort(404)
    task, system = found
    if task.state is not TaskState.WAITING_FOR_STAFF:
        return to_case(case, _("%(system)s: the search is %(state)s, not waiting for staff", system=system.name,
                               state=label(task.state)), "error")
    upload_form, nothing_form = UploadForm(formdata=None, prefix="upload"), NothingFoundForm(formdata=None,
                                                                                           prefix="nothing")
    status, submitted = 200, upload_form
    if request.method == "POST":
        limit = int(current_app.config["MANUAL_UPLOAD_MAX_BYTES"])
        request.max_content_length = limit + UPLOAD_OVERHEAD_BYTES
        try:
            if current_app.config.get("WTF_CSRF_ENABLED", True):
                csrf.protect()
            nothing = request.form.get("outcome") == "nothing"
        except RequestEntityTooLarge:
            upload_form.file.errors = [_("The file is larger than %(size)s, the most you can upload.",
                                         size=_size_text(limit))]
            return _manual_page(case, task, system, upload_form, nothing_form, upload_form), 413
        submitted = NothingFoundForm(prefix="nothing") if nothing else UploadForm(prefix="upload")
        if nothing:
            nothing_form = submitted
        else:
            upload_form = submitted
        if submitted.validate():
            outcome = _complete(task, system, nothing, None if nothing else upload_form.file.data, submitted)
            if outcome is not None:
                return to_case(case, outcome, "success")
        status = 400
    return _manual_page(case, task, system, upload_form, nothing_form, submitted), status


def _complete(task, system, nothing: bool, upload, form) -> str | None:
    """Run the service; the flash text on success, None (with the error on the form) when refused."""
    session = get_session()
    if upload is not None:
        size, limit = _upload_size(upload), int(current_app.config["MANUAL_UPLOAD_MAX_BYTES"])
        if not size:
            form.file.errors.append(_("The file is empty. Choose the file with what you found."))
            return None
        if size > limit:
            form.file.errors.append(_("The file is larger than %(size)s, the most you can upload.",
                                      size=_size_text(limit)))
            return None
    try:
        done = complete_manual_task(session, task.id, g.staff.id, nothing_found=nothing, upload=upload)
    except ManualTaskError as exc:
        session.rollback()
        field = form.confirm if nothing else form.file
        field.errors.append(str(exc)[:1].upper() + str(exc)[1:] + ".")
        return None
    session.commit()
    if nothing:
        return _("%(system)s: recorded that nothing was found", system=system.name)
    stored = done.result["upload"]
    return _("%(system)s: %(file)s (%(size)s) is stored for the bundle", system=system.name,
             file=stored["filename"], size=_size_text(stored["size"]))


def _upload_size(upload) -> int:
    """Bytes in the uploaded file (Werkzeug spools it to a seekable file first)."""
    stream = upload.stream
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(0)
    return size


def _manual_page(case, task, system, upload_form, nothing_form, form):
    return render_template(
        "export/manual_task.html",
        case=staff_case_view(case),
        task=task,
        system=system,
        due=urgency(task.due_on, today()) if task.due_on else None,
        upload_form=upload_form,
        nothing_form=nothing_form,
        form=form,
        limit=_size_text(int(current_app.config["MANUAL_UPLOAD_MAX_BYTES"])),
    )


# --- the bundle: review download, release, partial, assemble again -------------------------------------


@bp.post(f"{STAFF_CASE}/bundle/preview")
@staff_decider
def preview(case_id: int):
    case = case_or_404(case_id)
    session = get_session()
    bundle = current_bundle(session, case.id)
    try:
        if bundle is None:
            raise BundleNotFound(case.id)
        download = open_staff_preview(session, bundle.id, g.staff.id)
    except BundleNotFound:
        session.rollback()
        return to_case(case, _("There is no bundle to review yet"))
    session.commit()  # the preview is audited before a byte leaves
    return attachment(download)


def reviewed_bundle(case, endpoint: str, doing: str):
    """`doing`: what staff came to do, in words ("release", "hand over")."""
    """(the export panel, None) when the case's bundle waits for review and the login is fresh; else
    (None, where to go): back to the case, or a fresh login first (S13: releasing personal data needs a
    recent password + code proof)."""
    panel = export_panel(get_session(), case, masked=False)
    if panel is None or panel.bundle is None or panel.bundle.status is not BundleStatus.READY_FOR_REVIEW:
        return None, to_case(case, _("There is no bundle ready for review to %(doing)s", doing=doing))
    if not sessions.is_fresh():
        return None, redirect(url_for("auth.reauthenticate", next=url_for(endpoint, case_id=case.id)))
    return panel, None


@bp.route(f"{STAFF_CASE}/bundle/release", methods=["GET", "POST"])
@staff_decider
def release(case_id: int):
    case = case_or_404(case_id)
    session = get_session()
    panel, elsewhere = reviewed_bundle(case, "export.release", _("release"))
    if elsewhere is not None:
        return elsewhere
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            bundle = release_to_subject(session, case.id, g.staff.id)
        except (ReleaseRefused, IllegalTransition, BundleNotFound) as exc:
            session.rollback()
            return to_case(case, str(exc))
        session.commit()
        until = staff_time(bundle.expires_at)
        return to_case(case, _("Released: the subject has been told by e-mail; the download works until %(until)s",
                               until=until), "success")
    return render_template("export/release.html", case=staff_case_view(case), export=panel, form=form)


@bp.route(f"{STAFF_CASE}/bundle/partial", methods=["GET", "POST"])
@staff_decider
def partial(case_id: int):
    case = case_or_404(case_id)
    session = get_session()
    panel = export_panel(session, case, masked=False)
    if panel is None or not panel.can_assemble_partial:
        return to_case(case, _("A partial bundle can be chosen only when every system has finished and some "
                               "failed"))
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            assemble_partial(session, case.id, g.staff.id)
        except PartialNotAllowed as exc:
            session.rollback()
            return to_case(case, str(exc))
        session.commit()
        missing = ", ".join(row.task.system_key for row in panel.failed)
        return to_case(case, _("A partial bundle without %(systems)s is being assembled; review it before "
                               "release", systems=missing), "success")
    return render_template("export/partial.html", case=staff_case_view(case), export=panel, form=form)


@bp.post(f"{STAFF_CASE}/bundle/retry")
@staff_decider
def retry_assembly(case_id: int):
    case = case_or_404(case_id)
    session = get_session()
    try:
        restart_assembly(session, case.id, g.staff.id)
    except PartialNotAllowed as exc:
        session.rollback()
        return to_case(case, str(exc))
    session.commit()
    return to_case(case, _("The bundle is being assembled again"), "success")
