"""A local stand-in for ConnectWise Manage, generated from the registry and models.

Entry points: :func:`cwm_gateway.sandbox.runner.run_sandbox` (blocking),
:func:`cwm_gateway.sandbox.runner.start_sandbox_thread` (background, for tests and demos) and
:func:`cwm_gateway.sandbox.app.create_app` (the ASGI app, for in-process clients).
"""
