"""The docstring sections GrowingMLP and GrowingMLPRegressor share."""

_SHARED_DOC = """
    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int, default=(64,)
        Final width of each hidden layer (the width without growth).
    initial_hidden_sizes : int, tuple of int or None, default=None
        Width of each hidden layer before growth; None means a quarter of the
        final width (at least 1). Ignored when ``growth=None``.
    grow_every : int, default=20
        Optimizer steps between growth events; event ``k`` happens right after
        step ``k * grow_every``.
    grow_by : int, tuple of int or None, default=None
        Neurons added per event and layer (the last event adds what is left);
        None grows each layer from initial to final width in 4 events.
    growth : {"gradmax", "random", "random_inverse", "zeros"} or None, default="gradmax"
        How new neurons are initialised (see Notes). None trains a fixed network
        of ``hidden_layer_sizes``.
    growth_batch_size : int or None, default=None
        Examples on which the GradMax shortcut gradient ``M`` and the growth
        diagnostics (``loss_before``, ``loss_after``, ``grad_norm``,
        ``max_output_change``) are computed. None uses the mini-batch of the step
        at which growth happens, as in the paper; an int uses that many training
        examples drawn at random without replacement from the data passed to
        :meth:`fit` (or to this :meth:`partial_fit` call), all of them when it is at
        least their number. A larger sample gives ``M`` less minibatch noise; it is
        processed in one pass (memory grows with it).
    growth_scale : float, default=0.5
        Norm of each new non-zero weight vector, as a multiple of the mean norm of
        the existing ones: outgoing columns for ``gradmax``/``random``, incoming
        rows for ``random_inverse``.
    activation : {"relu", "tanh", "identity", "torch_relu"} or callable, default="relu"
        Hidden activation. ``"relu"`` has derivative 1 at 0, which GradMax needs;
        ``"torch_relu"`` (derivative 0 at 0) makes ``gradmax`` and ``random``
        degenerate to ``zeros`` and warns. A callable must map tensors to tensors.
    use_bias : bool, default=True
        Whether layers have biases.
    optimizer : {"sgd", "adam"}, default="adam"
        Optimizer; see Notes for the state of new parameters.
    lr : float, default=0.01
        Learning rate.
    momentum : float, default=0.0
        Momentum for ``optimizer="sgd"``.
    weight_decay : float, default=0.0
        L2 penalty ``weight_decay / 2 * sum ||W||^2`` on the weights (not biases),
        added to their gradients as in ``torch.optim`` (coupled, not AdamW);
        growth decisions use the loss without it.
    batch_size : int or None, default=None
        Mini-batch size; None trains full-batch.
    max_epochs : int, default=200
        Passes over the data in :meth:`fit` (at most, with ``early_stopping``).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data in :meth:`fit` (stratified
        for the classifier) and stop when the validation loss has not improved by
        more than 0.01 % for ``n_iter_no_change`` epochs, keeping the weights of
        the best epoch. Only epochs that end with the network fully grown count,
        so training never stops (or rolls back) before growth is over.
        :meth:`partial_fit` never stops early.
    validation_fraction : float, default=0.1
        Share of the data held out for early stopping.
    n_iter_no_change : int, default=10
        Epochs without improvement before stopping.
    dtype : {"float32", "float64"}, default="float32"
        Precision of the weights and of training. Growth leaves the outputs
        unchanged up to rounding; in float32 that rounding reaches about 1e-6 for
        outputs of magnitude 10, in float64 about 1e-14.
    device : str or torch.device, default="cpu"
        Where to train ("cpu", "cuda", "cuda:1", ...).
    random_state : int, RandomState or None, default=None
        Seeds initialisation, shuffling and random growth.
    verbose : int, default=0
        Print the loss every epoch and each growth event when positive.
"""

_SHARED_ATTRS = """
    Attributes
    ----------
    net_ : GrowingNet (a skorch.NeuralNet)
        The trained net: ``net_.module_`` holds the weights and biases as torch
        parameters, ``net_.optimizer_`` the optimizer with its state,
        ``net_.history`` skorch's per-epoch and per-batch record. Training
        continues from it in :meth:`partial_fit`.
    coefs_ : list of ndarray
        Weight matrices, ``coefs_[i]`` of shape ``(fan_in, fan_out)`` (scikit-learn's
        layout); copies read from ``net_.module_``.
    intercepts_ : list of ndarray or None
        Bias vectors (None entries when ``use_bias=False``); copies.
    hidden_sizes_ : tuple of int
        Current hidden widths.
    growth_history_ : list of dict
        One dict per growth event and layer: ``step``, ``layer``, ``n_new``,
        ``grad_norm`` (norm of the data-loss gradient of the new incoming weights
        right after growth), ``loss_before``, ``loss_after`` (equal up to float
        rounding: growth preserves the function), ``max_output_change`` (largest
        absolute change of the outputs on the growth batch) and ``seconds`` (time
        spent growing, diagnostics included).
    loss_curve_ : list of float
        Data loss of the batch at every optimizer step (before the step).
    n_steps_ : int
        Optimizer steps taken.
    n_iter_ : int
        Epochs run.
    best_epoch_ : int or None
        With ``early_stopping``: the epoch (1-based) whose weights were kept; the
        per-epoch validation loss is ``net_.history[:, "valid_loss"]``. None
        without early stopping.
    n_features_in_ : int
        Number of input features.
"""

_SHARED_NOTES = """
    Notes
    -----
    Follows Evci et al., "GradMax: Growing Neural Networks using Gradient
    Information", ICLR 2022. Growing hidden layer ``l`` (between weight matrices
    ``W_l`` and ``W_{l+1}``) by ``m`` neurons keeps the function: their incoming
    weights and bias are 0, so their pre-activation is 0 and ``f(0) = 0``. With
    ``growth="gradmax"`` the outgoing weights are the top-``m`` left singular
    vectors of ``M = sum_batch delta_{l+1} h_{l-1}^T``, the gradient of a zero
    shortcut from ``h_{l-1}`` to the pre-activation of layer ``l + 1``; this
    maximises the gradient norm of the new incoming weights, which is
    ``f'(0) ||W_new^T M||``. Each new column is normalised to ``growth_scale``
    times the mean norm of the existing outgoing columns (singular values are
    discarded). ``M`` comes from the loss without the L2 penalty, on the batch
    of the step at which growth happens (as in the paper) or, with
    ``growth_batch_size``, on a larger random sample of the training data.
    Baselines: ``random`` (incoming 0, outgoing random and scaled the same way),
    ``random_inverse`` (incoming random, scaled to the existing incoming rows;
    outgoing 0) and ``zeros``. When a layer
    grows by more neurons than layer ``l + 1`` has units, the extra outgoing
    directions are random (no orthonormal direction is left). GradMax then has
    no edge in gradient norm: ``m >= d_{l+1}`` orthonormal columns span the
    whole output space, so ``||W_new^T M||`` no longer depends on ``M`` and
    equals, in expectation, that of random columns of the same norm (e.g. a
    one-hidden-layer classifier with 10 classes growing by 12 units).

    Data order: mini-batches are drawn from a generator of their own, seeded
    from ``random_state``, so every ``growth`` method (and ``growth=None``)
    sees the same sequence of mini-batches; growth draws (random directions,
    the ``growth_batch_size`` sample) come from the model's generator.

    Training: the loop is :mod:`skorch`'s. ``net_`` is a ``NeuralNet`` whose
    module holds the weights and biases as parameters; growth is a skorch
    callback that runs after every optimizer step. A grown parameter keeps its
    identity (its data is replaced in place), so the optimizer, a
    ``torch.optim.Optimizer`` with a ``grow`` method, keeps pointing at it and
    only extends its state.

    Optimizer state: every new parameter entry starts with fresh state. For
    SGD the momentum buffer is padded with zeros (identical to fresh state).
    For Adam the moments are padded with zeros and the step counter is kept per
    entry, so a new weight's first update is exactly a first Adam step while
    old weights keep their moments and bias correction. (The reference pads the
    moments but shares one step counter, which makes the first update of new
    weights up to about 3x a fresh Adam step.)

    Deviations: weights are Glorot-uniform initialised (float32 unless ``dtype`` says otherwise),
    and the growth schedule is counted in optimizer steps.
"""
