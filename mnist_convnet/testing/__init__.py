"""What tests and benchmarks measure the package with, not part of what is served (as
``tfds.testing`` is tfds'):

    captures.py   MNIST test digits rendered as photos, scans and canvases
    memory.py     a server's resident memory, with the processes it started
    servers.py    a WSGI app served from a thread; waiting for a server to answer
    idx.py        the official MNIST files read without tfds
"""
