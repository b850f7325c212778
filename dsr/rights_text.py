"""Plain-language names and summaries of the rights, shared by pages and letters."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from dsr.models import Right

RIGHT_TITLES = {
    Right.ACCESS: _l("See the data we hold about you"),
    Right.RECTIFICATION: _l("Correct data that is wrong"),
    Right.ERASURE: _l("Have your data deleted"),
    Right.RESTRICTION: _l("Limit how we use your data"),
    Right.PORTABILITY: _l("Take your data to another service"),
    Right.OBJECTION: _l("Object to how we use your data"),
    Right.WITHDRAW_CONSENT: _l("Withdraw your consent"),
}

RIGHT_SUMMARIES = {
    Right.ACCESS: _l("Get a copy of your personal data, and learn why we use it, who receives it and how long "
                     "we keep it."),
    Right.RECTIFICATION: _l("Tell us what is wrong or missing, and we correct it everywhere we hold it."),
    Right.ERASURE: _l("We delete your data unless the law makes us keep some of it; we then tell you what we "
                      "kept, why and until when."),
    Right.RESTRICTION: _l("We keep your data but stop using it, for example while we check whether it is "
                          "correct."),
    Right.PORTABILITY: _l("Receive the data you gave us in a file other services can read."),
    Right.OBJECTION: _l("Stop direct marketing at once, or ask us to stop other uses based on our legitimate "
                        "interests."),
    Right.WITHDRAW_CONSENT: _l("Take back a consent you gave us, for example for the newsletter. It takes "
                               "effect at once."),
}
