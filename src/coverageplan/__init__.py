"""coverageplan: plan rural broadband universal service.

Choose fibre, cellular or satellite per village so that public money buys the
most coverage. The pipeline is ``scenario -> region -> reach -> problem -> plan
-> outputs``; see :func:`coverageplan.pipeline.run`.
"""

__version__ = "0.1.0"
