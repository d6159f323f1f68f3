"""Build-time code generator: manage.json → the ``cwm_generated`` package (``generated/``).

Imports nothing from the gateway. Run ``python -m codegen --help``.
"""
