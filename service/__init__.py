"""HTTP service that serves a saved recsys model with FastAPI.

Build the app with :func:`service.main.create_app`, or run it with
:func:`service.main.serve`, which ``recsys serve`` calls.
"""
