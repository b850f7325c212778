"""Someone acting for the data subject: the representative's details and authorisation, filed on the web
form or registered by staff; staff accept or reject the authorisation, and until it is accepted nothing
about the subject is searched for or released (SubjectRequest.authorisation_pending)."""
