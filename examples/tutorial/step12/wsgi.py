"""The object servers import: ``gunicorn wsgi:app`` (WSGI) and ``uvicorn wsgi:app`` (ASGI)."""

from erlog import create_app

app = create_app()
