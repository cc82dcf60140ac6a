"""The kernel: the process beside the window where all user code and the engine run.

``python -m gradviz.kernel -f CONNECTION_FILE`` starts an IPython kernel (ipykernel) with
gradviz's agent installed (see ``agent``). Nothing here imports Qt.
"""
