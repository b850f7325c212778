"""Mail and SMS: message rendering per language, transports, and the delivery service."""
