"""Post-training neuron-level fault localization: DeepFault, NP-SBFL (GA/MGA), DeepSensor.

>>> from deeplocalize.neurons import hit_spectra, rank, top_k
>>> top = top_k(rank(hit_spectra(model, x, y), "ochiai"), k=10)   # doctest: +SKIP
>>> res = run(model, x, y, method="npsbfl-mga", measure="tarantula", k=5)   # doctest: +SKIP
"""

from .control import fdr_misclassified, fdr_path, path_covered, permutation_p, random_draws
from .api import METHODS, Result, correct_seeds, localize, run, synthesize
from .deepsensor import excitable_neurons, generate, shapley_values
from .lrp import Relevance, UnsupportedLayerError, lrp
from .measures import MEASURES, barinel, dstar, ochiai, rank, score, tarantula, top_k
from .paths import candidates, coverage, critical_mask, path_spectra, pathway
from .spectra import activity, count, hit_spectra, neuron_table
from .synthesis import gradient_ascent, mga, project, random_selection

__all__ = [
    "METHODS", "MEASURES", "Result", "Relevance", "UnsupportedLayerError",
    "fdr_misclassified", "fdr_path", "path_covered", "permutation_p", "random_draws",
    "activity", "barinel", "candidates", "correct_seeds", "count", "coverage", "critical_mask",
    "dstar", "excitable_neurons", "generate", "gradient_ascent", "hit_spectra", "localize", "lrp",
    "mga", "neuron_table", "ochiai", "path_spectra", "pathway", "project", "random_selection",
    "rank", "run", "score", "shapley_values", "synthesize", "tarantula", "top_k",
]
