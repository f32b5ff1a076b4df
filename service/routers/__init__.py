"""One router per resource: recommendations, items and health.

The scoring handlers are plain ``def`` functions, so FastAPI runs them in its
thread pool and scoring does not block the event loop.
"""
