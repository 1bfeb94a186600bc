"""Critical pathways (Khakzar et al., CVPR 2021) and input-specific pruning (PruneGrad, arXiv 1911.11081).

Neurons are the elements of every ReLU output (:mod:`.neurons`); a pathway keeps each input's
top (100 - sparsity)% neurons by contribution over all layers (:mod:`.selection`); the pathway
gradient / PruneGrad are registered attribution methods (:mod:`.methods`); the papers' baselines
(random, greedy, learned gates DGR / CDRP) are in :mod:`.baselines`, the pathway statistics in
:mod:`.statistics`. Importing this package registers ``pathway_gradient`` and ``prune_grad``.
"""

from attriflow.pathways.methods import SELECTIONS, pathway, pathway_gradient
from attriflow.pathways.neurons import (
    CONTRIBUTIONS, activations, masked_gradient, masked_logits, neuron_contributions, neuron_gradients, neurons,
)
from attriflow.pathways.selection import kept_count, kept_fraction, random_pathway, select_pathway

__all__ = [
    "CONTRIBUTIONS", "SELECTIONS", "activations", "kept_count", "kept_fraction", "masked_gradient", "masked_logits",
    "neuron_contributions", "neuron_gradients", "neurons", "pathway", "pathway_gradient", "random_pathway",
    "select_pathway",
]
