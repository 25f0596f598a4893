"""The default plugins: modules that ship inside the core and register through the same hooks as
any third-party plugin (as pytest's and simonw/llm's default plugins do).

The host loads them first, whatever the switches say (``LLMLOG_DISABLE_PLUGIN_AUTOLOAD`` and
``plugins = [...]`` only concern entry points), so the core alone can log (the ``stderr`` output)
and read traces (``llmlog view`` and ``llmlog convert``).
"""
