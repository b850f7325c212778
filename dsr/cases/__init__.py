"""Staff case handling: the queue, the case page, decisions."""
