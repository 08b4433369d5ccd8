"""
Saving and loading a model safely with skops
============================================

A pickle file can run any code when it is loaded. `skops
<https://skops.readthedocs.io/>`_ files hold no code: ``skops.io.load`` makes
only the objects whose types are trusted, by default (builtins, numpy,
scikit-learn) or by you, and refuses the file otherwise. A fitted
:class:`~skmtl.MultiTaskClassifier` saves its weights, optimizer state and
history as plain data.
"""

# %%
# Fit and save
# ------------
import tempfile
from pathlib import Path

import numpy as np
import skops.io as sio
from sklearn.datasets import load_digits

from skmtl import MultiTaskClassifier

X, digit = load_digits(return_X_y=True)
X = X / 16
Y = np.column_stack([digit, digit % 2])  # tasks: the digit, and whether it is odd

clf = MultiTaskClassifier(max_epochs=5, n_iter_no_change=None, random_state=0)
clf.fit(X, Y)

folder = Path(tempfile.mkdtemp())
path = folder / "model.skops"
sio.dump(clf, path)
print(f"{path.name}: {path.stat().st_size / 1024:.0f} KiB")

# %%
# Read what the file would make before trusting it
# ------------------------------------------------
# ``get_untrusted_types`` lists the types that the file holds and skops does not
# trust by default. For a classifier with a trunk given by name and the default
# optimizer, they are the classifier itself and Adam.
untrusted = sio.get_untrusted_types(file=path)
print("untrusted types:", untrusted)

try:
    sio.load(path)  # nothing trusted beyond the defaults: refused
except sio.exceptions.UntrustedTypesFoundException as error:
    print("refused:", type(error).__name__)

# %%
# Load, trusting only the types expected
# --------------------------------------
# Trust only types you expect: a trusted type runs its code when the file is
# loaded. Other parameters given as objects (another optimizer, a trunk class,
# callbacks) add their types to the list.
expected = ["skmtl._classifier.MultiTaskClassifier", "torch.optim.adam.Adam"]
assert sorted(untrusted) == sorted(expected), untrusted
loaded = sio.load(path, trusted=expected)
same = np.array_equal(loaded.predict(X), clf.predict(X))
print(f"loaded model predicts as the saved one: {same}")
print(f"epochs in the loaded history: {len(loaded.net_.history)}")

path.unlink()
folder.rmdir()
