"""Contact maps: the reduction of a Jacobian or of attention to an [L, L] map (`contacts`) and the result
object every explainer returns (`prediction.ContactPrediction`)."""
