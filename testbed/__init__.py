"""What tests and benchmarks measure the package with: beside ``tests/`` and ``bench/``,
outside the ``mnist_convnet`` that is installed and served. It may import
``mnist_convnet``; ``mnist_convnet`` never imports it.

    sheet.py      ink and paper: a digit drawn, placed, lit, blurred, noised, encoded
    captures.py   MNIST test digits rendered as photos, scans and canvases
    writers.py    other writers' digits: styles drawn from stroke models, MNIST test
                  digits pushed to the edges of their style (the writers' set)
    optdigits.py  real digits by 13 other writers (UCI, via scikit-learn), on paper at 8 px
    memory.py     a server's resident memory, and the processes it started
    servers.py    a WSGI app served from a thread; waiting for a server to answer
    clients.py    load generators: many concurrent gRPC or REST clients of one server
    idx.py        the official MNIST files read without tfds
"""
