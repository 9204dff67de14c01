"""Post-processing: network probabilities -> instance labels (:func:`semantic_to_instances`)."""

from medunet.postprocessing.instances import SemanticToInstances, SemanticToInstancesd, semantic_to_instances

__all__ = ["SemanticToInstances", "SemanticToInstancesd", "semantic_to_instances"]
