"""Local stand-ins for the vendors' APIs the connector templates reach (dsr/connectors/templates/): small
stdlib HTTP servers that follow the published APIs — paths, field names, paging, error bodies, 429s and
token expiry — as far as they are documented publicly (each module names its pages). Written without
network access, from what is known of those APIs; where a detail is uncertain, the module says so. They
serve the tests and the demo (`python -m dsr.demo_systems.vendors`), never production."""
