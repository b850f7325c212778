"""The complaint kit: a case's whole correspondence as one self-contained, printable HTML file, in the
case's language, ready to attach to a complaint to the supervisory authority (a library: the subject's
case page and the staff case page serve it, each with its own access control)."""
