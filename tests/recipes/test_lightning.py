"""docs/recipes/lightning.md: `Mollify` in a LightningModule's `training_step`, for a few
steps of a real `lightning.Trainer` on the CPU."""

import math

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from probmoll import Mollify
from tests.recipes.helpers import check_recipe, seeded


def test_the_page_shows_three_changed_lines_and_this_test_runs_them():
    check_recipe("lightning.md", __file__)


class LitClassifier(L.LightningModule):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.model = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(8, num_classes),
        )
        self.mollify = Mollify(num_classes=num_classes)
        self.losses = []

    def forward(self, x):
        return self.model(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        x, y = self.mollify(x, y)
        loss = F.cross_entropy(self(x), y)
        self.log("mollify/gamma", self.mollify.last.gamma.mean())
        self.losses.append((loss.item(), y.sum(1)))
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


# On machines with more cores Lightning suggests DataLoader workers for speed; the tiny
# in-memory data needs none.
@pytest.mark.filterwarnings("ignore:The 'train_dataloader' does not have many workers")
# Lightning (up to 2.6 at least) flattens batches with torch's LeafSpec, which recent torch
# reports as deprecated; a warning about Lightning's internals, not about this recipe.
@pytest.mark.filterwarnings(
    r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated:FutureWarning"
)
def test_lightning_recipe():
    with seeded(0):
        images = torch.randn(24, 3, 16, 16)  # standardised
        labels = torch.randint(0, 10, (24,))
        loader = DataLoader(TensorDataset(images, labels), batch_size=8, shuffle=True)
        module = LitClassifier(num_classes=10)
        trainer = L.Trainer(
            max_steps=3,
            accelerator="cpu",
            devices=1,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
        )
        trainer.fit(module, loader)
    assert trainer.global_step == 3 and len(module.losses) == 3
    for loss, sums in module.losses:
        assert math.isfinite(loss)
        torch.testing.assert_close(sums, torch.ones(8))
    assert set(trainer.callback_metrics) == {"mollify/gamma"}
