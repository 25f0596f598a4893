"""llmlog's console output: coloured, human-readable lines on stderr or stdout.

``18:40:05.123 INFO  [traceId=4f0c9a7e] [app.py:12] answer ready [model=gpt-4o] [tokens=30(10↑20↓)] user=alice``

Colours follow dspy-go (DEBUG grey, INFO green, WARN yellow, ERROR red, FATAL magenta; prompt tokens
green, completion tokens blue) and are used only on a terminal, unless ``color`` says otherwise or
the environment does (``FORCE_COLOR`` forces them, ``NO_COLOR`` turns them off). Every message and
field value is escaped, so a prompt cannot send terminal escapes or forge a log line.
"""

from llmlog_output_console.output import ConsoleOptions, ConsoleOutput, use_color

__all__ = ["ConsoleOptions", "ConsoleOutput", "use_color"]
