from dsr import create_app

app = create_app()
