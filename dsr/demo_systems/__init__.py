"""The demo's connected systems, modelled on the seed privacy notices: a CRM and an accounting
database (SQLite files), a newsletter list (CSV), a support-chat REST API (a real HTTP server)
and a shared mailbox searched by hand. All data comes from one deterministic generator."""
