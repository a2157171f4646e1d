"""The policy export: adapts like Python in a TensorFlow-only process; bad requests are one line."""

import json
import os
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import tensorflow as tf
from absl.testing import absltest

from tfmeta import functional
from tfmeta.rl import losses, navigation, policy, returns
from tfmeta.savedmodel.policy import PolicyModule

TF_ONLY = textwrap.dedent("""
    import sys
    for name in ("keras", "tf_keras", "tfmeta", "export", "serving", "tests"):
        sys.modules[name] = None
    import json
    import numpy as np
    import tensorflow as tf
    model = tf.saved_model.load(sys.argv[1])
    x = np.load(sys.argv[2])
    out = model.signatures["adapt_and_act"](**{k: tf.constant(x[k]) for k in x.files})
    act = model.signatures["act"](new_observations=tf.constant(x["new_observations"]))
    try:
        model.signatures["adapt_and_act"](**{k: tf.constant(x[k][..., :1] if k == "actions"
                                                           else x[k]) for k in x.files})
        error = ""
    except tf.errors.InvalidArgumentError as e:
        error = [line for line in e.message.splitlines() if "assertion failed" in line]
    print(json.dumps({"adapted": out["actions"].numpy().tolist(),
                      "act": act["actions"].numpy().tolist(), "error": error}))
""")


class PolicyExportTest(absltest.TestCase):

    def test_reloaded_savedmodel_adapts_like_python_in_a_tensorflow_only_process(self):
        model = policy.build_policy(2, 2, hidden=(8,), seed=1)
        goals = tf.constant([[0.3, -0.2]] * 4)
        params = functional.params_of(model)
        traj = navigation.rollout(lambda o: policy.distribution(model, params, o), goals,
                                  seed=tf.constant([1, 2]), horizon=12)
        request = {"observations": traj.observations.numpy(), "actions": traj.actions.numpy(),
                   "rewards": traj.rewards.numpy(), "mask": traj.mask.numpy(),
                   "new_observations": np.array([[0.0, 0.0], [0.1, -0.1]], np.float32)}
        # Python: one SGD step of 0.1 on the REINFORCE loss with the fitted baseline.
        adv = returns.advantages(traj.observations, traj.rewards, traj.mask, gamma=0.99)
        batch = losses.PolicyBatch(traj.observations, traj.actions, adv, traj.mask,
                                   traj.actions, traj.actions)
        with tf.GradientTape() as tape:
            tape.watch(params)
            loss = losses.reinforce_loss(model, params, batch)
        adapted = [p - 0.1 * g for p, g in zip(params, tape.gradient(loss, params))]
        want = policy.distribution(model, adapted, request["new_observations"])[0].numpy()
        before = policy.distribution(model, params, request["new_observations"])[0].numpy()
        with tempfile.TemporaryDirectory() as tmp:
            module = PolicyModule(model, inner_lr=0.1, gamma=0.99)
            path = os.path.join(tmp, "1")
            tf.saved_model.save(module, path, signatures=module.signatures())
            np.savez(os.path.join(tmp, "request.npz"), **request)
            proc = subprocess.run([sys.executable, "-c", TF_ONLY, path,
                                   os.path.join(tmp, "request.npz")],
                                  capture_output=True, text=True, timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        np.testing.assert_allclose(out["adapted"], want, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(out["act"], before, rtol=1e-5, atol=1e-6)
        self.assertGreater(np.abs(want - before).max(), 1e-4)
        self.assertLen(out["error"], 1)   # the first failed rule only
        self.assertIn("actions must have shape [E, T, 2]; got shape] [4 12 1]", out["error"][0])


if __name__ == "__main__":
    absltest.main()
