"""llmlog mcp."""
