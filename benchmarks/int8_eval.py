"""Shared pieces of the int8 accuracy checks (benchmarks/int8_accuracy.py and
tests/test_int8_accuracy.py): realistic-looking inputs for the base model,
the accuracy metrics against float32, and a small SqueezeBERT trained here
on a synthetic task that needs attention over positions.

Everything is seeded and generated with torch's CPU generator, so the data
are the same on every machine. The trained weights are not: another ISA or
thread count sums in another order, and training carries the difference on,
so the test judges accuracy against bounds, not exact figures.
"""
import time

import torch
import torch.nn.functional as F

import sqbert_kernels as sk

# BERT-uncased's special ids (SqueezeBERT uses its vocabulary): [PAD] 0,
# [CLS] 101, [SEP] 102; word pieces start at 999.
PAD, CLS, SEP, FIRST_WORD = 0, 101, 102, 999


def zipf_tokens(shape, low, high, generator, exponent=1.1):
    """Token ids in [low, high) with Zipf-like frequencies (rank r has weight
    1 / (r + 2.7)^exponent, as word frequencies roughly do): a few very common
    ids and a long tail, unlike uniform random ids. Ranks map to ids through a
    fixed permutation so that frequent ids are spread over the range."""
    n = high - low
    weights = (torch.arange(n, dtype=torch.float64) + 2.7) ** -exponent
    ranks = torch.multinomial(weights, int(torch.Size(shape).numel()), replacement=True, generator=generator)
    ids = torch.randperm(n, generator=torch.Generator().manual_seed(1234)) + low
    return ids[ranks].view(shape)


def base_inputs(batch=8, length=128, vocab_size=30522, min_length=40, seed=0):
    """A padded batch shaped like tokenised sentence pairs: [CLS] a [SEP] b
    [SEP] with Zipf-distributed word ids, token_type_ids 0 then 1, per-sample
    lengths from min_length to length (the first sample full length), and
    [PAD] with attention_mask 0 after each sample's end."""
    g = torch.Generator().manual_seed(seed)
    ids = zipf_tokens((batch, length), FIRST_WORD, vocab_size, g)
    lengths = torch.randint(min_length, length + 1, (batch,), generator=g)
    lengths[0] = length
    mask = torch.zeros(batch, length, dtype=torch.long)
    types = torch.zeros(batch, length, dtype=torch.long)
    for i, n in enumerate(lengths.tolist()):
        split = int(torch.randint(n // 4, 3 * n // 4, (), generator=g))  # the first [SEP]
        ids[i, 0], ids[i, split], ids[i, n - 1] = CLS, SEP, SEP
        ids[i, n:] = PAD
        mask[i, :n] = 1
        types[i, split + 1:n] = 1
    return dict(input_ids=ids, attention_mask=mask, token_type_ids=types)


def base_models(num_hidden_layers=12, seed=0):
    """transformers' SqueezeBertModel with the base config (its defaults),
    initialised as transformers does, and this package's model on the same
    weights; both in eval mode."""
    import transformers

    transformers.logging.set_verbosity_error()
    torch.manual_seed(seed)
    config = transformers.SqueezeBertConfig(num_hidden_layers=num_hidden_layers)
    hf = transformers.SqueezeBertModel(config).eval()
    ours = sk.SqueezeBertModel(config).eval()
    ours.load_state_dict(hf.state_dict())
    return hf, ours


def token_cosine(got, want, mask):
    """Per-token cosine similarity of [B, L, C] hidden states over the
    unpadded tokens (mask [B, L] 1 keep): (mean, min)."""
    cos = F.cosine_similarity(got.double(), want.double(), dim=-1)[mask.bool()]
    return cos.mean().item(), cos.min().item()


def relative_error(got, want):
    """||got - want|| / ||want|| over the whole tensor."""
    return ((got.double() - want.double()).norm() / want.double().norm()).item()


def int8_copy(model):
    """sk.quantize of a fresh copy (it works in place; the float model stays)."""
    copy = type(model)(model.config)
    copy.load_state_dict(model.state_dict())
    return sk.quantize(copy.eval())


class BaseReference:
    """The float32 outputs of a SqueezeBertModel on inputs, and the metrics
    of another model's outputs (a ModelOutput or a dict) against them."""

    def __init__(self, model, inputs):
        self.mask = inputs["attention_mask"]
        self.want = model(**inputs)
        # At Hugging Face's init (weights of std 0.02) each layer changes the
        # hidden state only a little, so the embedding output dominates the
        # last hidden state and its cosine; the cosine of the change the
        # encoder makes (last hidden state - float embedding output) is the
        # figure that tells quantizers apart there.
        self.embedded = model.embeddings(inputs["input_ids"], inputs["token_type_ids"])

    def metrics(self, out):
        got, want = out["last_hidden_state"], self.want["last_hidden_state"]
        mean, low = token_cosine(got, want, self.mask)
        change = token_cosine(got - self.embedded, want - self.embedded, self.mask)[0]
        return dict(mean_cos=mean, min_cos=low, change_cos=change,
                    pooled_rel_err=relative_error(out["pooler_output"], self.want["pooler_output"]))


# The synthetic task ------------------------------------------------------------------------------------------

# Each sequence holds one A and one B among Zipf-distributed filler words;
# the label is 1 when A comes before B. A bag of words sees the same tokens
# in both classes (chance, 50%): the model has to compare the two tokens'
# positions through attention. Lengths vary, with padding, as in real batches.
TASK_A, TASK_B = 3, 4
TASK_VOCAB, TASK_LENGTH = 1000, 32
TASK_CONFIG = dict(vocab_size=TASK_VOCAB, hidden_size=128, embedding_size=128, num_hidden_layers=2,
                   num_attention_heads=4, intermediate_size=512, max_position_embeddings=TASK_LENGTH,
                   q_groups=4, k_groups=4, v_groups=4, post_attention_groups=1, intermediate_groups=4,
                   output_groups=4, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, num_labels=2)


def task_data(n, seed, length=TASK_LENGTH, min_length=12):
    """n examples of the A-before-B task: dict(input_ids, attention_mask),
    labels; half of each class. Ids: [PAD] 0, [CLS] 1, A 3, B 4, filler 5..
    vocab-1 Zipf-distributed."""
    g = torch.Generator().manual_seed(seed)
    ids = zipf_tokens((n, length), 5, TASK_VOCAB, g)
    lengths = torch.randint(min_length, length + 1, (n,), generator=g)
    mask = (torch.arange(length) < lengths[:, None]).long()
    ids[:, 0] = 1
    labels = torch.arange(n) % 2
    for i, m in enumerate(lengths.tolist()):
        first, second = (torch.randperm(m - 1, generator=g)[:2] + 1).sort().values.tolist()
        a, b = (first, second) if labels[i] else (second, first)
        ids[i, a], ids[i, b] = TASK_A, TASK_B
        ids[i, m:] = PAD
    order = torch.randperm(n, generator=g)
    return dict(input_ids=ids[order], attention_mask=mask[order]), labels[order]


# 200 steps at lr 3e-3 reach 99.35-99.55% held-out accuracy over seeds 0-2
# (150 steps: 93.7-99.5%); 12-13 s at 1 thread on a shared 2-core x86
# machine.
TRAIN_STEPS, TRAIN_BATCH, TRAIN_LR = 200, 64, 3e-3
HELD_OUT_SEED = 99  # training batches come from seed + 1: a different stream


def train_task_model(steps=TRAIN_STEPS, batch=TRAIN_BATCH, lr=TRAIN_LR, seed=0):
    """Trains this package's SqueezeBertForSequenceClassification on fresh
    task batches (AdamW, linear warmup then decay) at one thread: on these
    small tensors a second one gained at most 1.6x, and beside a busy
    neighbour two threads ran 3-6x slower than one (fork-join waits), which
    a CI machine cannot afford. Returns the model in eval mode and the
    training seconds."""
    torch.manual_seed(seed)
    model = sk.SqueezeBertForSequenceClassification(sk.SqueezeBertConfig.from_dict(TASK_CONFIG)).train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warmup = steps // 10
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / (steps - warmup))))
    inputs, labels = task_data(steps * batch, seed=seed + 1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    start = time.perf_counter()
    try:
        for step in range(steps):
            rows = slice(step * batch, (step + 1) * batch)
            loss = model(**{k: v[rows] for k, v in inputs.items()}, labels=labels[rows]).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    finally:
        torch.set_num_threads(threads)
    return model.eval(), time.perf_counter() - start


@torch.no_grad()
def logits(model, inputs, chunk=512):
    """A sequence classifier's logits, in chunks."""
    n = inputs["input_ids"].shape[0]
    return torch.cat([model(**{k: v[i:i + chunk] for k, v in inputs.items()}).logits for i in range(0, n, chunk)])


def task_metrics(logits, f32_logits, labels):
    """Accuracy, agreement of the argmax with float32's, logits' relative error."""
    pred = logits.argmax(-1)
    return dict(accuracy=(pred == labels).float().mean().item(),
                agreement=(pred == f32_logits.argmax(-1)).float().mean().item(),
                logits_rel_err=relative_error(logits, f32_logits))
