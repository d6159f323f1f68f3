"""A local stand-in for ConnectWise Manage, generated from the registry and models.

Modules by job: ``app`` (the ASGI app and admin endpoints), ``faults`` (fault injection and the
outer layer that logs), ``requestlog``, ``auth``, ``router``, ``dispatch`` (one sandbox
instance: routing a request to the part that serves it), ``crud`` (stored collections),
``views`` (sub-collections derived from stored records), ``documents`` (multipart uploads and
downloads), ``references`` and ``rules`` (ConnectWise's reference resolution and business
rules), ``query`` and ``fields`` (list queries and the field names they accept), ``bodies``
(request bodies), ``errors`` (ConnectWise's error shapes), ``samples``, ``resources`` (which
operations are stored collections), ``store``, ``seed`` and ``seed_data``.

Entry points: :func:`cwm_gateway.sandbox.runner.run_sandbox` (blocking),
:func:`cwm_gateway.sandbox.runner.start_sandbox_thread` (background, for tests and demos) and
:func:`cwm_gateway.sandbox.app.create_app` (the ASGI app, for in-process clients).
"""
