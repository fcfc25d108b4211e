"""The listening engine: query matching, language identification and sentiment, offline."""
