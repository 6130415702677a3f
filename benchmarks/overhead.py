"""The toolkit's own overhead: our trainer against a hand-written CycleGAN loop that computes the
same losses with the same networks, interleaved (A B A B) so that machine noise cancels.

    python benchmarks/overhead.py --device cpu --quick      # last line: ratio R (ours / hand-written)
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from _common import Timer, machine, make_trainer


class HandWritten:
    """CycleGAN written out by hand, as a user of the reference code would: G step, then D step."""

    def __init__(self, trainer):
        self.nets = trainer.nets  # the same architecture, the same initial weights
        self.pools = trainer.recipe.state
        self.opt_G = torch.optim.Adam([p for n in ("G_AB", "G_BA") for p in self.nets[n].parameters()],
                                      lr=2e-4, betas=(0.5, 0.999), fused=trainer.device.type == "cuda")
        self.opt_D = torch.optim.Adam([p for n in ("D_A", "D_B") for p in self.nets[n].parameters()],
                                      lr=2e-4, betas=(0.5, 0.999), fused=trainer.device.type == "cuda")
        self.autocast, self.device = trainer.runtime.autocast, trainer.device

    def step(self, batch):
        G_AB, G_BA, D_A, D_B = (self.nets[n] for n in ("G_AB", "G_BA", "D_A", "D_B"))
        real_A, real_B = batch["real_A"], batch["real_B"]
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            fake_B, fake_A = G_AB(real_A), G_BA(real_B)
            rec_A, rec_B = G_BA(fake_B), G_AB(fake_A)
            idt_B, idt_A = G_AB(real_B), G_BA(real_A)
            for p in list(D_A.parameters()) + list(D_B.parameters()):
                p.requires_grad_(False)
            pred_B, pred_A = D_B(fake_B).float(), D_A(fake_A).float()
            loss_G = (F.mse_loss(pred_B, torch.ones_like(pred_B)) + F.mse_loss(pred_A, torch.ones_like(pred_A))
                      + 10 * ((rec_A.float() - real_A).abs().mean() + (rec_B.float() - real_B).abs().mean())
                      + 5 * ((idt_B.float() - real_B).abs().mean() + (idt_A.float() - real_A).abs().mean()))
        self.opt_G.zero_grad(set_to_none=True)
        loss_G.backward()
        self.opt_G.step()
        for p in list(D_A.parameters()) + list(D_B.parameters()):
            p.requires_grad_(True)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            pooled_B = self.pools["pool_B"].query(fake_B.detach())
            pooled_A = self.pools["pool_A"].query(fake_A.detach())
            loss_D = 0.0
            for D, real, fake in ((D_B, real_B, pooled_B), (D_A, real_A, pooled_A)):
                pr, pf = D(real).float(), D(fake).float()
                loss_D = loss_D + 0.5 * (F.mse_loss(pr, torch.ones_like(pr)) + F.mse_loss(pf, torch.zeros_like(pf)))
        self.opt_D.zero_grad(set_to_none=True)
        loss_D.backward()
        self.opt_D.step()


class HandTimer(Timer):
    def __init__(self, trainer):
        super().__init__(trainer)
        self.loop = HandWritten(trainer)

    def step(self, record: bool = True) -> float:
        cuda = self.trainer.device.type == "cuda"
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        self.loop.step(self.batch)
        if cuda:
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        if record:
            self.times.append(elapsed)
        return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="tiny networks at 32×32: under two minutes on 2 cores")
    parser.add_argument("--pairs", type=int, default=None)
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--batch", type=int, default=None)
    args = parser.parse_args()
    size = args.size or (32 if args.quick else 256)
    batch = args.batch or (4 if args.quick else 1)
    pairs = args.pairs or (200 if args.quick else 50)  # quick steps are short: many pairs, steadier median
    preset = "tiny" if args.quick else "paper"
    settings = dict(size=size, batch=batch, preset=preset, device=args.device, compile="off")
    ours = Timer(make_trainer("cyclegan", **settings))
    hand = HandTimer(make_trainer("cyclegan", **settings))
    for _ in range(5):
        ours.step(record=False)
        hand.step(record=False)
    for k in range(pairs):  # A B, then B A: neither side always runs second
        first, second = (ours, hand) if k % 2 == 0 else (hand, ours)
        first.step()
        second.step()
    ratios = [a / b for a, b in zip(ours.times, hand.times)]
    print(f"cyclegan {preset} {size}x{size} batch {batch}, {machine(args.device)}, {pairs} interleaved pairs")
    print(f"{'loop':14} {'median s/step':>14} {'min s/step':>11}")
    print(f"{'hand-written':14} {hand.median:14.5f} {hand.best:11.5f}")
    print(f"{'i2i trainer':14} {ours.median:14.5f} {ours.best:11.5f}")
    print(f"median of per-pair ratios {statistics.median(ratios):.3f}")
    print(f"ratio {ours.median / hand.median:.3f}")


if __name__ == "__main__":
    main()
