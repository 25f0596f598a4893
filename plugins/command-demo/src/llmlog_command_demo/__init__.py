"""``llmlog demo``: a simulated LLM pipeline (no server, no network, no API key) logged through
the configured outputs, with its flight-recorder snapshot; variants that other plugins register
(``llmlog demo --dspy``) through :func:`llmlog_command_demo.hookspecs.llmlog_register_demos`.

The modules: :mod:`~llmlog_command_demo.pipeline` (the simulated application),
:mod:`~llmlog_command_demo.command` (the command), :mod:`~llmlog_command_demo.hookspecs` (the
variants' hook) and :mod:`~llmlog_command_demo.plugin` (the registration).
"""
