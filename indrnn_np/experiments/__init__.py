"""Layer 5: the experiments behind the figures: Eq. 4 in numbers (``dynamics_report``), the adding-problem
study (``study``) and reading the neurons of a trained network (``neurons``)."""
