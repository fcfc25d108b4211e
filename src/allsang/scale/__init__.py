"""Scale-out: the benchmark of several processes (``allsang bench scale``)."""
