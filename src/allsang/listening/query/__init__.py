"""The listening query language: parse, compile many queries together, match messages.

>>> qs = compile_queries([("q1", 'volvo NEAR/3 "xc 90" -saab'), ("q2", "lang:no")])
>>> qs.match(Message("Ny Volvo XC 90 i dag", lang="nb"))
['q1', 'q2']
"""

from allsang.listening.query.compiler import QuerySet, compile_queries
from allsang.listening.query.evaluate import Message
from allsang.listening.query.parser import QuerySyntaxError, parse

__all__ = ["Message", "QuerySet", "QuerySyntaxError", "compile_queries", "parse"]
