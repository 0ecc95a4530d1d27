"""One module per benchmark case.

Contract (read by `deeplocalize.bench`; see benchmark/README.md):

    CASE = {"id": "31556268", "source": "stackoverflow:31556268", "title": "..."}

    def build(variant: str, seed: int = 0) -> dict:
        '''variant is "buggy" or "fixed". Returns
        {"model": compiled keras.Model, "x": ..., "y": ... (or None for a
         tf.data.Dataset / generator in x), "fit": {epochs, batch_size, ...}}'''

Ground truth lives apart, in benchmark/ground_truth/<id>.yaml; the detector
never reads it.
"""
