"""The model on padded batches runs its encoder on the real tokens only
(fused_attention_varlen): outputs at real positions, the pooled output,
every head's logits and the gradients match Hugging Face's; padded
positions hold 0; batches without padding, left-padded batches and
output_attentions take the padded path."""
import pytest
import torch
import transformers

import sqbert_kernels as sk
from test_model import SMALL, inputs, pair

HEADS = ["SqueezeBertModel", "SqueezeBertForSequenceClassification", "SqueezeBertForTokenClassification",
         "SqueezeBertForMaskedLM", "SqueezeBertForQuestionAnswering"]


def attention_ops(model, *args, **kwargs):
    with torch.no_grad(), torch.profiler.profile() as prof:
        model(*args, **kwargs)
    return {e.key for e in prof.key_averages() if "attention" in e.key}


def ragged_mask(batch, length, holes=False):
    """Right padding of a different length per row (one row full), and
    with `holes` a padded position inside a row too."""
    mask = torch.ones(batch, length, dtype=torch.long)
    for b in range(1, batch):
        mask[b, length - 7 * b:] = 0
    if holes:
        mask[0, length // 2] = 0
    return mask


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("holes", [False, True], ids=["right-padded", "holes"])
def test_padded_batches_run_unpadded_and_match_hugging_face(head, holes):
    config = transformers.SqueezeBertConfig(**SMALL)
    hf, ours = pair(head, config)
    ids, _, token_types = inputs(config, batch=4, length=33)
    mask = ragged_mask(4, 33, holes)
    with torch.no_grad():
        want = hf(ids, attention_mask=mask, token_type_ids=token_types, output_hidden_states=True)
        got = ours(ids, attention_mask=mask, token_type_ids=token_types, output_hidden_states=True)
    keep = mask.bool()
    for w, g in zip(want.hidden_states, got.hidden_states):
        torch.testing.assert_close(g[keep], w[keep], rtol=1e-4, atol=1e-4)
    assert all((g[~keep] == 0).all() for g in got.hidden_states[1:])  # the embeddings are computed padded
    for name in ("last_hidden_state", "pooler_output", "logits", "start_logits", "end_logits"):
        if name in want:
            w, g = want[name], got[name]
            if name != "pooler_output" and w.dim() >= 2 and w.shape[:2] == mask.shape:
                w, g = w[keep], g[keep]  # per-position outputs: the real positions
            torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-4)
    assert "sqbert::fused_attention_varlen" in attention_ops(ours, ids, attention_mask=mask)


def test_which_batches_take_the_padded_path():
    config = sk.SqueezeBertConfig(**SMALL)
    model = sk.SqueezeBertModel(config).eval()
    ids, _, _ = inputs(config, batch=3, length=20)
    full = torch.ones(3, 20, dtype=torch.long)
    left = ragged_mask(3, 20).flip(1)
    for mask in (None, full, left, full.float()[:, None, None, :]):
        assert attention_ops(model, ids, attention_mask=mask) == {"sqbert::fused_attention"}
    assert "sqbert::fused_attention_varlen" in attention_ops(model, ids, attention_mask=ragged_mask(3, 20).bool())


def test_left_padding_matches_hugging_face_on_the_padded_path():
    config = transformers.SqueezeBertConfig(**SMALL)
    hf, ours = pair("SqueezeBertForSequenceClassification", config)
    ids, _, _ = inputs(config, batch=3, length=25)
    mask = ragged_mask(3, 25).flip(1)
    with torch.no_grad():
        torch.testing.assert_close(ours(ids, attention_mask=mask).logits, hf(ids, attention_mask=mask).logits,
                                   rtol=1e-4, atol=1e-4)


def test_training_gradients_match_hugging_face():
    config = transformers.SqueezeBertConfig(**dict(SMALL, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0))
    hf, ours = pair("SqueezeBertForSequenceClassification", config)
    hf.train(), ours.train()
    ids, _, _ = inputs(config, batch=4, length=30)
    mask = ragged_mask(4, 30)
    labels = torch.tensor([0, 1, 1, 0])
    hf(ids, attention_mask=mask, labels=labels).loss.backward()
    ours(ids, attention_mask=mask, labels=labels).loss.backward()
    theirs = dict(hf.named_parameters())
    for name, p in ours.named_parameters():
        torch.testing.assert_close(p.grad, theirs[name].grad, rtol=1e-3, atol=1e-5, msg=name)


def test_training_with_dropout_and_checkpointing_runs_per_sequence():
    config = sk.SqueezeBertConfig(**SMALL)
    model = sk.SqueezeBertForSequenceClassification(config).train()
    model.gradient_checkpointing_enable()
    ids, _, _ = inputs(config, batch=3, length=21)
    mask = ragged_mask(3, 21)
    out = model(ids, attention_mask=mask, labels=torch.tensor([1, 0, 1]))
    out.loss.backward()
    assert torch.isfinite(out.loss) and model.transformer.encoder.layers[0].attention.query.weight.grad is not None


def test_int8_model_runs_unpadded():
    config = sk.SqueezeBertConfig(**SMALL)
    model = sk.quantize(sk.SqueezeBertModel(config).eval())
    ids, _, _ = inputs(config, batch=4, length=33)
    mask = ragged_mask(4, 33)
    with torch.no_grad():
        got = model(ids, attention_mask=mask).last_hidden_state
        for b in range(4):  # each sequence alone, unpadded
            n = int(mask[b].sum())
            alone = model(ids[b:b + 1, :n]).last_hidden_state[0]
            torch.testing.assert_close(got[b, :n], alone, rtol=1e-5, atol=1e-5)
