"""Fees under Art. 12(5) and 15(3): staff charge one (the request and its legal clock wait), record the
payment (the request goes on as approved) or waive it. The case page's panel shows the subject's earlier
requests as the evidence the controller must be able to give."""
