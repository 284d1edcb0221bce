"""One real transition through each tabular algorithm's compiled step, a cheap Figure 8.2, and config parsing."""

import gymnasium as gym
import pytest

import reverie  # noqa: F401  (registers the mazes)
from reverie.algorithms import dyna_q, dyna_q_plus, dyna_q_strict, prioritized_sweeping, q_learning
from reverie.algorithms import simulate_tabular as simulate_runs
from reverie.algorithms._tabular import make_state
from reverie.config import build_config
from reverie.errors import UserError


def test_q_learning_one_hand_computed_update():
    state = make_state(3, 2, seed=0)
    state.q[1] = [2.0, 4.0]  # max_a Q(1, a) = 4
    state.q[0, 1] = 1.0
    q_learning.step(state, (0, 1, 0.5, 1, False), q_learning.Config(alpha=0.5, gamma=0.5).params())
    # Q(0,1) <- 1 + 0.5 * (0.5 + 0.5 * 4 - 1) = 1.75
    assert state.q[0, 1] == pytest.approx(1.75)
    assert state.updates[0] == 1
    assert state.model.n_edges[0] == 0  # no model is learned


@pytest.mark.parametrize("n", [0, 1, 5, 20])
def test_dyna_q_planning_on_single_transition_to_goal(n):
    state = make_state(2, 2, seed=3)
    dyna_q.step(state, (0, 1, 1.0, 1, True), dyna_q.Config(alpha=0.5, planning_steps=n).params())
    # The only known pair is (0,1) with a terminal reward 1, so the direct update and each of the n
    # imagined ones is Q <- Q + 0.5 (1 - Q), i.e. 1 - Q halves each time: from 1 - 0 = 1 to 0.5^(n+1).
    assert state.q[0, 1] == pytest.approx(1 - 0.5 ** (n + 1))
    assert state.q[0, 0] == 0.0 and (state.q[1] == 0.0).all()
    assert state.updates[0] == 1 + n
    assert state.model.known[0, 1] and state.model.visits[0, 1] == 1


def test_dyna_q_with_zero_planning_equals_q_learning():
    a, b = make_state(3, 2, seed=0), make_state(3, 2, seed=0)
    for st in (a, b):
        st.q[1] = [0.3, 0.7]
    dyna_q.step(a, (0, 0, 0.2, 1, False), dyna_q.Config(planning_steps=0).params())
    q_learning.step(b, (0, 0, 0.2, 1, False), q_learning.Config().params())
    assert (a.q == b.q).all() and a.q[0, 0] == pytest.approx(0.1 * (0.2 + 0.95 * 0.7))


def test_dyna_q_strict_has_no_direct_update():
    state = make_state(2, 2, seed=0)
    dyna_q_strict.step(state, (0, 1, 1.0, 1, True), dyna_q_strict.Config(alpha=0.5, planning_steps=1).params())
    # one imagined update of the only pair: 0 + 0.5 * (1 - 0) = 0.5 (a direct update too would give 0.75)
    assert state.q[0, 1] == pytest.approx(0.5)
    assert state.updates[0] == 1
    assert state.model.visits[0, 1] == 1


def test_dyna_q_strict_rejects_zero_planning_steps():
    with pytest.raises(ValueError):
        dyna_q_strict.Config(planning_steps=0)
    with pytest.raises(UserError):
        build_config(dyna_q_strict.Config, {"planning_steps": "0"})


def test_dyna_q_plus_models_untried_actions_of_new_state_as_self_loops():
    state = make_state(4, 3, seed=0)
    dyna_q_plus.step(state, (2, 1, 0.5, 3, False), dyna_q_plus.Config(planning_steps=0).params())
    m = state.model
    assert m.known[2].all() and list(m.visits[2]) == [0, 1, 0]
    for b in (0, 2):
        assert (m.next_state[2, b], m.reward[2, b], m.terminated[2, b]) == (2, 0.0, False)
    assert (m.next_state[2, 1], m.reward[2, 1]) == (3, 0.5)  # the real outcome
    assert not m.known[3].any()  # only the state acted in gets assumptions
    assert state.clock[0] == 1 and state.last_tried[2, 1] == 1 and state.last_tried[2, 0] == 0


def test_dyna_q_plus_bonus_raises_long_untried_pair():
    # One state, two actions; the agent takes action 0 (a self-loop, reward 0) 100 times. Action 1 is
    # assumed (self-loop, reward 0) on the first step and never tried, so at clock 100 tau(0,1) = 100.
    # With alpha 1 and gamma 0 a planning update sets Q(s,a) = r + kappa sqrt(tau) exactly:
    # Q(0,1) = 0.01 * sqrt(100) = 0.1, while Q(0,0) (tau 0, just tried) stays 0.
    cfg = {"alpha": 1.0, "gamma": 0.0, "kappa": 0.01}
    state = make_state(1, 2, seed=4)
    for _ in range(99):
        dyna_q_plus.step(state, (0, 0, 0.0, 0, False), dyna_q_plus.Config(planning_steps=0, **cfg).params())
    assert (state.q == 0.0).all()
    dyna_q_plus.step(state, (0, 0, 0.0, 0, False), dyna_q_plus.Config(planning_steps=50, **cfg).params())
    assert state.q[0, 1] == pytest.approx(0.1)
    assert state.q[0, 0] == 0.0
    assert state.updates[0] == 99 + 51
    # plain Dyna-Q in the same situation has no reason to value the untried action
    plain = make_state(1, 2, seed=4)
    dyna_q.step(plain, (0, 0, 0.0, 0, False), dyna_q.Config(alpha=1.0, gamma=0.0, planning_steps=50).params())
    assert (plain.q == 0.0).all()


def test_prioritized_sweeping_large_theta_queues_nothing():
    state = make_state(2, 2, seed=0)
    params = prioritized_sweeping.Config(theta=10.0).params()
    prioritized_sweeping.step(state, (0, 1, 1.0, 1, True), params)  # priority |1 - 0| = 1 < 10
    assert state.queue.size[0] == 0 and (state.q == 0.0).all() and state.updates[0] == 0
    assert state.model.visits[0, 1] == 1  # the model still learns


def _observe_chain(planning_steps):
    # states 0 -> 1 -> 2 (goal), action 1 each. The first step has priority |0 + 0.95 * 0 - 0| = 0: not queued.
    state = make_state(3, 2, seed=0)
    params = prioritized_sweeping.Config(alpha=0.5, gamma=0.95, planning_steps=planning_steps).params()
    prioritized_sweeping.step(state, (0, 1, 0.0, 1, False), params)
    assert state.queue.size[0] == 0 and state.updates[0] == 0
    prioritized_sweeping.step(state, (1, 1, 1.0, 2, True), params)
    return state


def test_prioritized_sweeping_propagates_to_predecessors():
    state = _observe_chain(planning_steps=5)
    # pop (1,1): Q(1,1) = 0.5 * 1 = 0.5; its predecessor (0,1) gets priority |0 + 0.95 * 0.5 - 0| = 0.475;
    # pop (0,1): Q(0,1) = 0.5 * 0.475 = 0.2375; state 0 has no predecessors, the queue empties after 2 pops.
    assert state.q[1, 1] == pytest.approx(0.5)
    assert state.q[0, 1] == pytest.approx(0.2375)
    assert state.updates[0] == 2  # pops, not planning_steps
    assert state.queue.size[0] == 0


def test_prioritized_sweeping_stops_after_planning_steps_pops():
    state = _observe_chain(planning_steps=1)
    assert state.q[1, 1] == pytest.approx(0.5) and state.q[0, 1] == 0.0
    assert state.updates[0] == 1
    # the predecessor waits in the queue with its priority
    assert state.queue.size[0] == 1 and state.queue.item[0] == 0 * 2 + 1
    assert state.queue.priority[0] == pytest.approx(0.475)


def test_simulate_runs_reproduces_figure_8_2_gap():
    env = gym.make("reverie/DynaMaze-v0").unwrapped
    table, start = env.transition_table(), env.state_of(env.start)
    seeds = [0, 1, 2, 3, 4]

    def tenth_episode(n):
        params = dyna_q.Config(planning_steps=n).params()
        lengths, _, updates = simulate_runs(
            dyna_q.NAME,
            params,
            n_states=54,
            n_actions=4,
            seeds=seeds,
            epsilon=0.1,
            before=table,
            start=start,
            max_episodes=10,
        )
        assert lengths.shape == (5, 10) and (lengths >= 14).all()  # nothing beats the optimal 14 steps
        assert (updates == lengths.sum(axis=1) * (1 + n)).all()  # 1 + N updates per real step
        return lengths[:, 9].mean()

    # Figure 8.2: by episode 10 Dyna-Q with N = 50 is near optimal (14 steps, ~16 with epsilon 0.1
    # detours; measured ~16), while Q-learning still wanders (random walks take hundreds of steps;
    # measured ~170). The bounds 25 and 50 leave wide margins on both sides.
    assert tenth_episode(50) < 25
    assert tenth_episode(0) > 50


def test_build_config_parses_and_validates():
    cfg = build_config(dyna_q.Config, {"planning_steps": "5", "alpha": "0.5"})
    assert cfg.planning_steps == 5 and type(cfg.planning_steps) is int
    assert cfg.alpha == 0.5 and type(cfg.alpha) is float
    assert cfg.params() == (0.5, 0.95, 5.0, 0.0)
    assert build_config(dyna_q.Config, {"model": "stochastic"}).model == "stochastic"


@pytest.mark.parametrize(
    "overrides",
    [
        {"alpha": "x"},  # not a float
        {"planning_step": "5"},  # unknown key (typo)
        {"model": "foo"},  # outside the field's choices
        {"planning_steps": "2.5"},  # not an int
        {"alpha": "1.5"},  # outside [0, 1]: __post_init__'s ValueError becomes UserError
        {"planning_steps": True},  # a bool is not an int here
    ],
)
def test_build_config_rejects_bad_input_with_user_error(overrides):
    with pytest.raises(UserError):
        build_config(dyna_q.Config, overrides)


def test_every_algorithm_config_has_params_matching_its_step():
    # every step reads the same four floats (alpha, gamma, planning_steps, kappa or theta), so one
    # compiled simulator serves them all
    for module in (q_learning, dyna_q, dyna_q_strict, dyna_q_plus, prioritized_sweeping):
        params = module.Config().params()
        assert len(params) == 4 and all(type(p) is float for p in params)
        state = make_state(2, 2, seed=0)
        module.step(state, (0, 0, 0.0, 1, False), module.Config().params())
        assert state.clock[0] == (1 if module is dyna_q_plus else 0)
