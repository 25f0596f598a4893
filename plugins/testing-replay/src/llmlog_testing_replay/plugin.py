"""The ``llmlog`` entry point of llmlog-testing-replay: it registers no component (replay is
used from Python and pytest: ``ReplayLM``, the ``llmlog_replay`` marker and fixture); the entry
point lists the distribution among llmlog's installed plugins (``llmlog plugins``)."""
