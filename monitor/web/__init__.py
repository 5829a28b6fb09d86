"""The nurses' worklist: a small server-rendered web app (Starlette + Jinja2, no JavaScript).

`app.create_app` builds it; `monitor serve` runs it under uvicorn. Pages read through the same
queries and services as the CLI, so a change made here is the same change, audited the same way.
"""
