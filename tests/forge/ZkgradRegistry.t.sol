// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";
import {IVerifier} from "../../zkgrad/contracts/IVerifier.sol";
import {ZkgradRegistry} from "../../zkgrad/contracts/ZkgradRegistry.sol";
import {InstanceLayout} from "../../zkgrad/contracts/InstanceLayout.sol";
import {ModelBook} from "../../zkgrad/contracts/ModelBook.sol";
import {Bounties} from "../../zkgrad/contracts/Bounties.sol";

/// The cheatcodes used here (no forge-std offline).
interface Vm {
    function prank(address sender) external;
    function assume(bool condition) external pure;
    function deal(address account, uint256 balance) external;
    function expectRevert(bytes calldata revertData) external;
    function expectRevert(bytes4 revertData) external;
    function expectEmit(bool topic1, bool topic2, bool topic3, bool data, address emitter) external;
    function roll(uint256 blockNumber) external;
}

/// Test only: accepts a proof iff it is abi.encode(instances), in place of an ezkl verifier.
contract StubVerifier is IVerifier {
    function verifyProof(bytes calldata proof, uint256[] calldata instances) external pure returns (bool) {
        return keccak256(proof) == keccak256(abi.encode(instances));
    }
}

/// Test only: accepts a proof iff it can fund the registry's model 1 from inside verifyProof.
contract StatefulVerifier {
    ZkgradRegistry immutable registry;

    constructor(ZkgradRegistry registry_) {
        registry = registry_;
    }

    function verifyProof(bytes calldata, uint256[] calldata) external returns (bool) {
        try registry.fund(1) {
            return true;
        } catch {
            return false;
        }
    }
}

/// A Merkle tree OpenZeppelin's MerkleProof accepts: sorted-pair keccak, an odd last node moves up.
library Tree {
    function root(bytes32[] memory leaves) internal pure returns (bytes32) {
        bytes32[] memory level = leaves;
        while (level.length > 1) level = _up(level);
        return level[0];
    }

    function path(bytes32[] memory leaves, uint256 index) internal pure returns (bytes32[] memory siblings) {
        siblings = new bytes32[](16);
        uint256 n;
        bytes32[] memory level = leaves;
        while (level.length > 1) {
            if ((index ^ 1) < level.length) siblings[n++] = level[index ^ 1];
            (level, index) = (_up(level), index / 2);
        }
        assembly ("memory-safe") {
            mstore(siblings, n)
        }
    }

    function _up(bytes32[] memory level) private pure returns (bytes32[] memory next) {
        next = new bytes32[]((level.length + 1) / 2);
        for (uint256 k; k < next.length; ++k) {
            next[k] = 2 * k + 1 < level.length
                ? Hashes.commutativeKeccak256(level[2 * k], level[2 * k + 1])
                : level[2 * k];
        }
    }
}

/// ZkgradRegistry's rules at the Solidity level, with stub verifiers and made-up schedules.
/// A model here has S state words (= its weights, no momentum), B batch words; the state at
/// version v is _state(v), and the update that starts at v carries batch v % nBatches and the claim
/// naming its submitter (this contract unless a test says otherwise) for version v + 1.
contract ZkgradRegistryTest {
    Vm constant vm = Vm(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);
    uint256 constant MOD = 21888242871839275222246405745257275088548364400416034343698204186575808495617;
    uint256 constant S = 3;
    uint256 constant B = 2;
    uint256 constant N = 2 * S + B + 2; // a step's instances: before | batch | claim | after | loss
    uint256 constant CLAIM = S + B; // the claim word's index
    uint128 constant REWARD = 1e15;
    uint32 constant HELD_OUT = 120;
    uint64 constant UNIT = 1000;
    address constant PROVER = address(0xBEEF);
    bytes constant SPEC = '{"model":"stub"}';
    uint32 constant DELAY = 100; // blocks before an unspent bounty is refundable

    ZkgradRegistry registry;
    StubVerifier stub;
    mapping(uint256 modelId => bytes32[] leaves) leavesOf; // leaf j: batchLeaf(j, commit(_batch(id, j)))

    function setUp() public {
        registry = new ZkgradRegistry();
        stub = new StubVerifier();
    }

    // --- helpers --------------------------------------------------------------------------
    function _commit(uint256[] memory words) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(words));
    }

    function _words(bytes32 tag, uint256 a, uint256 b, uint256 n) internal pure returns (uint256[] memory w) {
        w = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            w[i] = uint256(keccak256(abi.encode(tag, a, b, i))) % MOD;
        }
    }

    function _state(uint256 v) internal pure returns (uint256[] memory) {
        return _words("state", v, 0, S);
    }

    function _batch(uint256 modelId, uint256 j) internal pure returns (uint256[] memory) {
        return _words("batch", modelId, j, B);
    }

    function _shape() internal pure returns (ModelBook.Shape memory) {
        return ModelBook.Shape(uint32(S), uint32(S), uint32(B), 2, 2);
    }

    /// Terms over a fresh schedule of n batches for the next model id (its leaves kept).
    function _terms(uint256 n, uint128 reward, bool evaluated) internal returns (ModelBook.Terms memory t) {
        uint256 id = registry.modelCount() + 1;
        delete leavesOf[id];
        for (uint256 j; j < n; ++j) {
            leavesOf[id].push(registry.batchLeaf(j, _commit(_batch(id, j))));
        }
        t.stepVerifier = address(stub);
        t.answerVerifier = address(stub);
        t.datasetRoot = Tree.root(leavesOf[id]);
        t.nBatches = uint32(n);
        t.srs = keccak256("srs");
        t.rewardPerUpdate = reward;
        t.refundDelay = DELAY;
        if (evaluated) (t.evalVerifier, t.heldOut, t.heldOutSize, t.evalUnit) =
            (address(stub), keccak256("held-out"), HELD_OUT, UNIT);
    }

    function _register(uint256 n, uint128 reward, bool evaluated) internal returns (uint256) {
        bytes32 genesis = _commit(_state(0));
        return registry.registerModel(_terms(n, reward, evaluated), _shape(), genesis, genesis, "stub", SPEC);
    }

    /// The step from _state(from) to _state(to) on batch j, sent by this contract.
    function _step(uint256 modelId, uint256 from, uint256 to, uint256 j) internal view returns (uint256[] memory) {
        return _stepBy(modelId, from, to, j, address(this));
    }

    /// The same, its claim naming `submitter` for version from + 1.
    function _stepBy(uint256 modelId, uint256 from, uint256 to, uint256 j, address submitter)
        internal
        view
        returns (uint256[] memory)
    {
        uint256 claim = registry.claimWord(modelId, from + 1, submitter);
        return _concat(_state(from), _batch(modelId, j), claim, _state(to));
    }

    function _concat(uint256[] memory a, uint256[] memory b, uint256 claim, uint256[] memory c)
        internal
        pure
        returns (uint256[] memory w)
    {
        w = new uint256[](a.length + b.length + c.length + 2);
        uint256 k;
        for (uint256 i; i < a.length; ++i) w[k++] = a[i];
        for (uint256 i; i < b.length; ++i) w[k++] = b[i];
        w[k++] = claim;
        for (uint256 i; i < c.length; ++i) w[k++] = c[i];
        w[k] = 7; // the loss word
    }

    function _path(uint256 modelId, uint256 j) internal view returns (bytes32[] memory) {
        return Tree.path(leavesOf[modelId], j);
    }

    function _submit(uint256 modelId, uint256[] memory instances, uint256 j) internal returns (uint256) {
        bytes32[] memory p = _path(modelId, j);
        return registry.submitUpdate(modelId, abi.encode(instances), instances, p, 0);
    }

    /// The scheduled update from the model's current version v to v + 1.
    function _advance(uint256 modelId, uint256 steps) internal {
        uint256 n = leavesOf[modelId].length;
        for (uint256 i; i < steps; ++i) {
            uint256 v = registry.version(modelId);
            require(_submit(modelId, _step(modelId, v, v + 1, v % n), v % n) == v + 1, "new version");
        }
    }

    function _sub(uint256[] memory w, uint256 from, uint256 n) internal pure returns (uint256[] memory out) {
        out = new uint256[](n);
        for (uint256 i; i < n; ++i) out[i] = w[from + i];
    }

    function _fund(uint256 modelId, uint256 amount) internal {
        vm.deal(address(this), amount);
        registry.fund{value: amount}(modelId);
    }

    // --- updates --------------------------------------------------------------------------
    function test_three_updates_move_the_head() public {
        uint256 id = _register(2, 0, false);
        require(registry.head(id) == _commit(_state(0)) && registry.version(id) == 0, "genesis");
        for (uint256 v; v < 3; ++v) {
            uint256[] memory instances = _stepBy(id, v, v + 1, v % 2, PROVER);
            vm.expectEmit(true, true, true, true, address(registry));
            emit ZkgradRegistry.UpdateAccepted(
                id, v + 1, PROVER, _commit(_state(v)), _commit(_state(v + 1)), _commit(_batch(id, v % 2)), 7
            );
            bytes32[] memory p = _path(id, v % 2);
            vm.prank(PROVER);
            require(registry.submitUpdate(id, abi.encode(instances), instances, p, 0) == v + 1, "returned version");
            require(registry.head(id) == _commit(_state(v + 1)) && registry.version(id) == v + 1, "head moved");
            ModelBook.Version memory r = registry.getVersion(id, v + 1);
            require(r.state == registry.head(id) && r.weights == r.state, "getVersion");
            require(registry.model(id).headBlock == block.number, "head block");
        }
    }

    function test_an_unknown_model_is_refused() public {
        uint256[] memory instances = _step(1, 0, 1, 0);
        vm.expectRevert(abi.encodeWithSelector(ModelBook.UnknownModel.selector, 1));
        registry.submitUpdate(1, abi.encode(instances), instances, new bytes32[](0), 0);
    }

    function test_a_step_from_an_old_head_is_stale() public {
        uint256 id = _register(2, 0, false);
        _advance(id, 1);
        uint256[] memory instances = _step(id, 0, 5, 1); // from genesis, with the batch scheduled now
        bytes32[] memory p = _path(id, 1);
        vm.expectRevert(
            abi.encodeWithSelector(ZkgradRegistry.StaleHead.selector, _commit(_state(1)), _commit(_state(0)))
        );
        registry.submitUpdate(id, abi.encode(instances), instances, p, 0);
    }

    /// No step can halt a model: a step that changes nothing, and a cycle back to an old state, are
    /// accepted as new versions; a proof is still accepted once (replayed, it is stale or misclaimed).
    function test_a_repeated_state_moves_the_model_on_and_a_replay_is_refused() public {
        uint256 id = _register(2, 0, false);
        uint256[] memory first = _step(id, 0, 1, 0);
        _submit(id, first, 0);
        bytes32[] memory p = _path(id, 0);
        vm.expectRevert(abi.encodeWithSelector(ZkgradRegistry.StaleHead.selector, _commit(_state(1)), _commit(_state(0))));
        registry.submitUpdate(id, abi.encode(first), first, p, 0);

        require(_submit(id, _step(id, 1, 1, 1), 1) == 2, "a step that changes nothing"); // after == before
        require(registry.head(id) == _commit(_state(1)), "same head");
        require(_submit(id, _stepFrom(id, 2, 1, 0, 0), 0) == 3, "back to genesis"); // a cycle
        require(registry.head(id) == _commit(_state(0)) && registry.version(id) == 3, "genesis again");
        // the first proof starts at this head again, but its claim names version 1: refused
        vm.expectRevert(abi.encodeWithSelector(ZkgradRegistry.WrongSubmitter.selector, address(this), 4));
        registry.submitUpdate(id, abi.encode(first), first, _path(id, 1), 0);
        require(registry.getVersion(id, 0).state == registry.getVersion(id, 3).state, "versions 0 and 3 are equal");
        require(_submit(id, _stepFrom(id, 3, 0, 1, 1), 1) == 4, "and it moves on");
    }

    /// The step at version v from _state(from) to _state(to) on batch j, claimed for v + 1.
    function _stepFrom(uint256 modelId, uint256 v, uint256 from, uint256 to, uint256 j)
        internal
        view
        returns (uint256[] memory)
    {
        uint256 claim = registry.claimWord(modelId, v + 1, address(this));
        return _concat(_state(from), _batch(modelId, j), claim, _state(to));
    }

    function test_a_poisoned_batch_is_refused() public {
        uint256 id = _register(2, 0, false);
        uint256[] memory instances = _step(id, 0, 1, 0);
        instances[S + 1] = (instances[S + 1] + 1) % MOD; // one word of the scheduled batch
        bytes32[] memory p = _path(id, 0);
        vm.expectRevert(
            abi.encodeWithSelector(ZkgradRegistry.WrongBatch.selector, 0, 0, _commit(_sub(instances, S, B)))
        );
        registry.submitUpdate(id, abi.encode(instances), instances, p, 0);
    }

    function test_the_right_batch_at_the_wrong_version_is_refused() public {
        uint256 id = _register(2, 0, false);
        _advance(id, 1); // version 1 must use batch 1
        uint256[] memory instances = _step(id, 1, 2, 0);
        bytes32[] memory p = _path(id, 0); // batch 0 and its own valid path
        vm.expectRevert(abi.encodeWithSelector(ZkgradRegistry.WrongBatch.selector, 1, 1, _commit(_batch(id, 0))));
        registry.submitUpdate(id, abi.encode(instances), instances, p, 0);
        p = _path(id, 1); // batch 0 on batch 1's path
        vm.expectRevert(abi.encodeWithSelector(ZkgradRegistry.WrongBatch.selector, 1, 1, _commit(_batch(id, 0))));
        registry.submitUpdate(id, abi.encode(instances), instances, p, 0);
    }

    function test_the_schedule_wraps() public {
        uint256 id = _register(3, 0, false);
        _advance(id, 3); // batches 0, 1, 2
        uint256[] memory late = _step(id, 3, 4, 2);
        bytes32[] memory p = _path(id, 2);
        vm.expectRevert(abi.encodeWithSelector(ZkgradRegistry.WrongBatch.selector, 3, 0, _commit(_batch(id, 2))));
        registry.submitUpdate(id, abi.encode(late), late, p, 0);
        require(_submit(id, _step(id, 3, 4, 0), 0) == 4, "version 3 uses batch 0 again");
    }

    function test_with_momentum_old_weights_with_a_new_velocity_are_a_new_version() public {
        ModelBook.Shape memory shape = _shape();
        shape.weightsWords = uint32(S - 1); // the last state word is a velocity
        bytes32 genesisWeights = _commit(_sub(_state(0), 0, S - 1));
        uint256 id = registry.registerModel(_terms(2, 0, false), shape, _commit(_state(0)), genesisWeights, "", SPEC);
        _advance(id, 1);
        bytes32 weights = _commit(_sub(_state(1), 0, S - 1));
        ModelBook.ModelInfo memory info = registry.model(id);
        require(info.head == _commit(_state(1)) && info.headWeights == weights, "head weights");
        ModelBook.Version memory r = registry.getVersion(id, 1);
        require(r.weights == weights && r.state == info.head, "weights recorded");
        require(registry.getVersion(id, 0).weights == genesisWeights, "genesis weights recorded");

        uint256[] memory back = _step(id, 1, 0, 1);
        back[2 * S + B] += 1; // genesis weights with another velocity: a new state, old weights
        require(_submit(id, back, 1) == 2, "accepted");
        r = registry.getVersion(id, 2);
        require(r.weights == genesisWeights && r.state == registry.head(id), "version 2 has genesis weights");
        require(registry.model(id).headWeights == genesisWeights, "head weights");
    }

    function test_a_proof_the_verifier_refuses_is_invalid() public {
        uint256 id = _register(2, 0, false);
        uint256[] memory instances = _step(id, 0, 1, 0);
        bytes32[] memory p = _path(id, 0);
        vm.expectRevert(ZkgradRegistry.InvalidProof.selector);
        registry.submitUpdate(id, abi.encode(instances, uint256(1)), instances, p, 0);
    }

    // --- rewards --------------------------------------------------------------------------
    function test_the_reward_is_paid_to_the_sender_from_the_bounty() public {
        uint256 id = _register(2, REWARD, false);
        _fund(id, 3 * REWARD);
        for (uint256 v; v < 2; ++v) {
            uint256[] memory instances = _stepBy(id, v, v + 1, v, PROVER);
            bytes32[] memory p = _path(id, v);
            vm.expectEmit(true, true, true, true, address(registry));
            emit Bounties.RewardPaid(id, PROVER, REWARD, false);
            vm.prank(PROVER);
            registry.submitUpdate(id, abi.encode(instances), instances, p, REWARD);
            require(PROVER.balance == (v + 1) * REWARD, "paid to msg.sender");
            require(registry.model(id).bounty == (2 - v) * REWARD, "bounty decreased");
            require(address(registry).balance == (2 - v) * REWARD, "registry balance");
        }
    }

    function test_a_reward_the_sender_cannot_take_is_credited() public {
        uint256 id = _register(2, REWARD, false);
        _fund(id, REWARD);
        vm.expectEmit(true, true, true, true, address(registry));
        emit Bounties.RewardPaid(id, address(this), REWARD, true); // this contract takes no ether
        _advance(id, 1);
        require(registry.credit(address(this)) == REWARD && registry.model(id).bounty == 0, "credited");
        require(registry.withdraw(payable(PROVER)) == REWARD && PROVER.balance == REWARD, "withdrawn");
        require(registry.credit(address(this)) == 0, "credit cleared");
    }

    function test_an_unfunded_model_skips_the_reward() public {
        uint256 id = _register(2, REWARD, false);
        _fund(id, REWARD - 1);
        uint256[] memory instances = _stepBy(id, 0, 1, 0, PROVER);
        bytes32[] memory p = _path(id, 0);
        vm.expectEmit(true, true, true, true, address(registry));
        emit Bounties.RewardSkipped(id, PROVER, REWARD, REWARD - 1);
        vm.prank(PROVER);
        registry.submitUpdate(id, abi.encode(instances), instances, p, 0);
        require(registry.version(id) == 1, "accepted");
        require(PROVER.balance == 0 && registry.model(id).bounty == REWARD - 1, "nothing paid");
    }

    function test_a_reward_below_the_minimum_is_refused() public {
        uint256 id = _register(2, REWARD, false);
        uint256[] memory instances = _stepBy(id, 0, 1, 0, PROVER);
        bytes memory proof = abi.encode(instances);
        bytes32[] memory p = _path(id, 0);
        vm.expectRevert(abi.encodeWithSelector(ZkgradRegistry.RewardBelowMinimum.selector, 0, 1));
        vm.prank(PROVER);
        registry.submitUpdate(id, proof, instances, p, 1); // unfunded: pays 0
        _fund(id, REWARD);
        vm.expectRevert(abi.encodeWithSelector(ZkgradRegistry.RewardBelowMinimum.selector, REWARD, REWARD + 1));
        vm.prank(PROVER);
        registry.submitUpdate(id, proof, instances, p, REWARD + 1);
        vm.prank(PROVER);
        registry.submitUpdate(id, proof, instances, p, REWARD);
        require(PROVER.balance == REWARD, "paid the minimum");
    }

    // --- refunds --------------------------------------------------------------------------
    function test_an_unspent_bounty_goes_back_pro_rata_after_the_delay() public {
        uint256 id = _register(2, REWARD, false);
        _fund(id, 3 * REWARD); // this contract: 3/4
        vm.deal(PROVER, REWARD);
        vm.prank(PROVER);
        registry.fund{value: REWARD}(id); // PROVER: 1/4
        _advance(id, 1); // pays REWARD (credited: this contract takes no ether), 3 * REWARD left
        require(!registry.refundable(id), "not before the delay");
        vm.expectRevert(abi.encodeWithSelector(Bounties.NotRefundable.selector, id));
        registry.refund(id, payable(address(0xF00D)));
        vm.roll(block.number + DELAY);
        require(registry.refundable(id), "refundable after the delay");
        require(registry.refund(id, payable(address(0xF00D))) == 3 * REWARD * 3 / 4, "3/4 of what is left");
        vm.expectRevert(abi.encodeWithSelector(Bounties.NothingToRefund.selector, id, address(this)));
        registry.refund(id, payable(address(0xF00D)));
        vm.prank(PROVER);
        require(registry.refund(id, payable(PROVER)) == 3 * REWARD / 4, "the last funder takes the rest");
        require(registry.model(id).bounty == 0 && registry.contributed(id) == 0, "emptied");
        require(address(registry).balance == registry.credit(address(this)), "only the credit is left");
    }

    function test_a_leftover_below_one_reward_is_refundable_at_once() public {
        uint256 id = _register(2, REWARD, false);
        _fund(id, REWARD + REWARD / 2);
        _advance(id, 1); // REWARD / 2 is left: it can pay no one
        require(registry.refundable(id), "refundable at once");
        require(registry.refund(id, payable(address(0xF00D))) == REWARD / 2, "the leftover");
        _fund(id, REWARD);
        require(!registry.refundable(id), "a bounty that pays is not, until the delay");
    }

    /// A verifier runs under STATICCALL: one that changes state (here, funding the model from
    /// inside verifyProof, which would vanish from the accounting) cannot, and its proof is refused.
    function test_a_verifier_cannot_change_state() public {
        StatefulVerifier bad = new StatefulVerifier(registry);
        ModelBook.Terms memory t = _terms(2, REWARD, false);
        t.stepVerifier = address(bad);
        bytes32 genesis = _commit(_state(0));
        uint256 id = registry.registerModel(t, _shape(), genesis, genesis, "", SPEC);
        _fund(id, REWARD);
        uint256[] memory instances = _step(id, 0, 1, 0);
        bytes32[] memory p = _path(id, 0);
        vm.expectRevert(ZkgradRegistry.InvalidProof.selector);
        registry.submitUpdate(id, abi.encode(instances), instances, p, 0);
        require(registry.version(id) == 0 && registry.model(id).bounty == REWARD, "nothing changed");
    }

    // --- answers --------------------------------------------------------------------------
    function _answerInstances(uint256 v, uint256 tag) internal pure returns (uint256[] memory w) {
        w = new uint256[](S + 4); // weights | input (2) | outputs (2)
        uint256[] memory weights = _state(v);
        for (uint256 i; i < S; ++i) w[i] = weights[i];
        (w[S], w[S + 1], w[S + 2], w[S + 3]) = (tag, tag + 1, 5, 6);
    }

    /// An answer resolves to exactly the version it names (HEAD: the head's), even where two versions
    /// hold equal weights; it is recorded once per version.
    function test_an_answer_resolves_to_the_version_it_names() public {
        uint256 id = _register(2, 0, false);
        _advance(id, 1);
        require(_submit(id, _stepFrom(id, 1, 1, 0, 1), 1) == 2, "back to genesis: versions 0 and 2 are equal");
        uint256[] memory a = _answerInstances(0, 40);
        bytes memory proof = abi.encode(a);
        require(registry.submitAnswer(id, registry.HEAD(), proof, a) == 0, "at the head");
        require(registry.getAnswer(id, 0).version == 2 && registry.getAnswer(id, 0).submitter == address(this), "v2");
        bytes32 key = registry.answerKey(id, 2, a);
        vm.expectRevert(abi.encodeWithSelector(ZkgradRegistry.ReplayedProof.selector, key));
        registry.submitAnswer(id, 2, proof, a);
        require(registry.submitAnswer(id, 0, proof, a) == 1 && registry.getAnswer(id, 1).version == 0, "at v0");
        vm.expectRevert(abi.encodeWithSelector(ZkgradRegistry.WrongWeights.selector, 1, _commit(_state(0))));
        registry.submitAnswer(id, 1, proof, a);
        vm.expectRevert(abi.encodeWithSelector(ZkgradRegistry.WrongWeights.selector, 3, _commit(_state(0))));
        registry.submitAnswer(id, 3, proof, a); // no version 3 yet
        (bool found, uint256 answerId) = registry.findAnswer(id, 0, a);
        require(found && answerId == 1, "found by version");
    }

    // --- terms ----------------------------------------------------------------------------
    function test_the_terms_never_change() public {
        ModelBook.Terms memory terms = _terms(3, REWARD, true);
        bytes32 genesis = _commit(_state(0));
        uint256 id = registry.registerModel(terms, _shape(), genesis, genesis, "stub", SPEC);
        _fund(id, REWARD);
        _advance(id, 3);
        registry.submitEvaluation(id, abi.encode(_evalInstances(3, 50 * UNIT)), _evalInstances(3, 50 * UNIT));

        ModelBook.ModelInfo memory info = registry.model(id);
        require(keccak256(abi.encode(info.terms)) == keccak256(abi.encode(terms)), "terms");
        require(keccak256(abi.encode(info.shape)) == keccak256(abi.encode(_shape())), "shape");
        require(info.registrant == address(this) && info.genesis == genesis, "registrant, genesis");
        require(info.specDigest == keccak256(SPEC) && keccak256(bytes(info.name)) == keccak256("stub"), "spec");
        bytes32 code = address(stub).codehash;
        require(info.stepCodeHash == code && info.answerCodeHash == code && info.evalCodeHash == code, "code");
        require(info.head == _commit(_state(3)) && info.headWeights == info.head && info.version == 3, "head");
        require(info.bounty == 0, "bounty spent");
    }

    function test_registration_refusals() public {
        bytes32 genesis = _commit(_state(0));
        ModelBook.Shape memory shape = _shape();
        ModelBook.Terms memory t = _terms(2, 0, false);

        t.stepVerifier = address(0xdead);
        vm.expectRevert(abi.encodeWithSelector(ZkgradRegistry.NotAContract.selector, address(0xdead)));
        registry.registerModel(t, shape, genesis, genesis, "", SPEC);
        (t.stepVerifier, t.answerVerifier) = (address(stub), PROVER);
        vm.expectRevert(abi.encodeWithSelector(ZkgradRegistry.NotAContract.selector, PROVER));
        registry.registerModel(t, shape, genesis, genesis, "", SPEC);
        (t.answerVerifier, t.evalVerifier) = (address(stub), PROVER);
        vm.expectRevert(abi.encodeWithSelector(ZkgradRegistry.NotAContract.selector, PROVER));
        registry.registerModel(t, shape, genesis, genesis, "", SPEC);

        t.evalVerifier = address(stub); // without the held-out set
        vm.expectRevert(ZkgradRegistry.IncompleteEvaluation.selector);
        registry.registerModel(t, shape, genesis, genesis, "", SPEC);
        t.evalVerifier = address(0);

        bytes32 root = t.datasetRoot;
        t.datasetRoot = 0;
        vm.expectRevert(abi.encodeWithSelector(ZkgradRegistry.InvalidDataset.selector, bytes32(0), 2));
        registry.registerModel(t, shape, genesis, genesis, "", SPEC);
        (t.datasetRoot, t.nBatches) = (root, 0);
        vm.expectRevert(abi.encodeWithSelector(ZkgradRegistry.InvalidDataset.selector, root, 0));
        registry.registerModel(t, shape, genesis, genesis, "", SPEC);
        t.nBatches = 1 << 24;
        vm.expectRevert(abi.encodeWithSelector(ZkgradRegistry.InvalidDataset.selector, root, 1 << 24));
        registry.registerModel(t, shape, genesis, genesis, "", SPEC);
        t.nBatches = 2;
        vm.expectRevert(ZkgradRegistry.UnpublishedSpec.selector);
        registry.registerModel(t, shape, genesis, genesis, "", "");
        t.refundDelay = 0;
        vm.expectRevert(ZkgradRegistry.InvalidRefundDelay.selector);
        registry.registerModel(t, shape, genesis, genesis, "", SPEC);
        t.refundDelay = DELAY;

        for (uint256 k; k < 5; ++k) {
            ModelBook.Shape memory bad = _shape();
            if (k == 0) bad.weightsWords = 0;
            if (k == 1) bad.weightsWords = bad.stateWords + 1;
            if (k == 2) bad.batchWords = 0;
            if (k == 3) bad.inputWords = 0;
            if (k == 4) bad.nOutputs = 0;
            vm.expectRevert(abi.encodeWithSelector(ZkgradRegistry.InvalidShape.selector, bad));
            registry.registerModel(t, bad, genesis, genesis, "", SPEC);
        }

        bytes32 weights = keccak256("weights");
        vm.expectRevert(abi.encodeWithSelector(ZkgradRegistry.GenesisMismatch.selector, genesis, weights));
        registry.registerModel(t, shape, genesis, weights, "", SPEC); // no momentum: they must be equal
        shape.weightsWords = 2; // momentum: they must differ
        vm.expectRevert(abi.encodeWithSelector(ZkgradRegistry.GenesisMismatch.selector, genesis, genesis));
        registry.registerModel(t, shape, genesis, genesis, "", SPEC);

        require(registry.modelCount() == 0, "nothing registered");
        require(registry.registerModel(t, shape, genesis, weights, "", SPEC) == 1, "momentum model");
    }

    // --- evaluations ----------------------------------------------------------------------
    function _evalInstances(uint256 v, uint256 word) internal pure returns (uint256[] memory w) {
        w = new uint256[](S + 1);
        uint256[] memory weights = _state(v);
        for (uint256 i; i < S; ++i) w[i] = weights[i];
        w[S] = word;
    }

    function _evaluate(uint256 modelId, uint256[] memory instances) internal returns (uint256, uint256) {
        return registry.submitEvaluation(modelId, abi.encode(instances), instances);
    }

    function test_an_evaluation_of_the_head_is_recorded_once() public {
        uint256 id = _register(2, 0, true);
        _advance(id, 1);
        uint256[] memory instances = _evalInstances(1, 100 * UNIT);
        vm.expectEmit(true, true, true, true, address(registry));
        emit ZkgradRegistry.EvaluationAccepted(id, 1, address(this), 100, HELD_OUT);
        (uint256 evaluated, uint256 correct) = _evaluate(id, instances);
        require(evaluated == 1 && correct == 100, "returned");
        ModelBook.Evaluation memory e = registry.getEvaluation(id, 1);
        require(e.submitter == address(this) && e.correct == 100 && e.blockNumber == block.number, "recorded");
        require(registry.getEvaluation(id, 0).blockNumber == 0, "genesis not evaluated");

        instances = _evalInstances(1, 120 * UNIT);
        vm.expectRevert(abi.encodeWithSelector(ZkgradRegistry.AlreadyEvaluated.selector, id, 1));
        _evaluate(id, instances);
    }

    function test_an_evaluation_of_past_or_unknown_weights_is_refused() public {
        uint256 id = _register(2, 0, true);
        _advance(id, 2);
        for (uint256 v; v < 4; ++v) {
            if (v == 2) continue; // the head
            uint256[] memory instances = _evalInstances(v, UNIT);
            vm.expectRevert(abi.encodeWithSelector(ZkgradRegistry.WrongWeights.selector, 2, _commit(_state(v))));
            _evaluate(id, instances);
        }
    }

    function test_an_evaluation_count_must_be_whole_and_at_most_the_set() public {
        uint256 id = _register(2, 0, true);
        uint256[3] memory words = [uint256(100 * UNIT + 1), uint256((HELD_OUT + 1) * UNIT), MOD - 1];
        for (uint256 k; k < 3; ++k) {
            uint256[] memory instances = _evalInstances(0, words[k]);
            vm.expectRevert(abi.encodeWithSelector(ZkgradRegistry.InvalidCount.selector, words[k]));
            _evaluate(id, instances);
        }
        (, uint256 correct) = _evaluate(id, _evalInstances(0, HELD_OUT * UNIT));
        require(correct == HELD_OUT, "all correct");
    }

    function test_a_model_without_an_evaluation_verifier_refuses_evaluations() public {
        uint256 id = _register(2, 0, false);
        uint256[] memory instances = _evalInstances(0, UNIT);
        vm.expectRevert(abi.encodeWithSelector(ZkgradRegistry.NoEvaluation.selector, id));
        _evaluate(id, instances);
    }

    // --- fuzzing --------------------------------------------------------------------------
    /// (a) Changing any one word of a valid update's instances gets it refused, each part by its
    /// own check, and the head stays; the valid update is still accepted afterwards.
    function testFuzz_a_mutated_instance_is_refused(uint256 index, uint256 value, bool inField) public {
        uint256 id = _register(2, 0, false);
        _advance(id, 1);
        uint256[] memory valid = _step(id, 1, 2, 1);
        uint256[] memory bad = _step(id, 1, 2, 1);
        index %= N;
        if (inField) value %= MOD;
        if (value == valid[index]) value = (value + 1) % MOD;
        bad[index] = value;

        bytes memory expected;
        if (value >= MOD) {
            expected = abi.encodeWithSelector(InstanceLayout.InstanceOutOfField.selector, index, value);
        } else if (index < S) {
            expected =
                abi.encodeWithSelector(ZkgradRegistry.StaleHead.selector, _commit(_state(1)), _commit(_sub(bad, 0, S)));
        } else if (index < S + B) {
            expected = abi.encodeWithSelector(ZkgradRegistry.WrongBatch.selector, 1, 1, _commit(_sub(bad, S, B)));
        } else if (index == CLAIM) {
            expected = abi.encodeWithSelector(ZkgradRegistry.WrongSubmitter.selector, address(this), 2);
        } else {
            expected = abi.encodeWithSelector(ZkgradRegistry.InvalidProof.selector);
        }
        bytes memory proof = abi.encode(valid);
        bytes32[] memory p = _path(id, 1);
        vm.expectRevert(expected);
        registry.submitUpdate(id, proof, bad, p, 0);
        require(registry.head(id) == _commit(_state(1)) && registry.version(id) == 1, "head stayed");
        require(registry.submitUpdate(id, proof, valid, p, 0) == 2, "the valid update");
    }

    /// (b) For a schedule of 1 to 8 batches, the update at version v is accepted with batch
    /// v % n only: every other batch, on its own path or the scheduled one, is WrongBatch.
    function testFuzz_only_the_scheduled_batch_is_accepted(uint8 nSeed, uint8 vSeed) public {
        uint256 n = 1 + nSeed % 8;
        uint256 v = vSeed % 20;
        uint256 id = _register(n, 0, false);
        _advance(id, v);
        uint256 scheduled = v % n;
        for (uint256 j; j < n; ++j) {
            if (j == scheduled) continue;
            uint256[] memory instances = _step(id, v, v + 1, j);
            bytes memory expected =
                abi.encodeWithSelector(ZkgradRegistry.WrongBatch.selector, v, scheduled, _commit(_batch(id, j)));
            bytes32[] memory own = _path(id, j);
            bytes32[] memory other = _path(id, scheduled);
            vm.expectRevert(expected);
            registry.submitUpdate(id, abi.encode(instances), instances, own, 0);
            vm.expectRevert(expected);
            registry.submitUpdate(id, abi.encode(instances), instances, other, 0);
        }
        require(_submit(id, _step(id, v, v + 1, scheduled), scheduled) == v + 1, "the scheduled batch");
    }

    /// (c) The layouts' offsets tile their instances: each part starts where the last ended.
    function testFuzz_layouts_are_consistent(uint64 s, uint64 b, uint64 x, uint64 k) public view {
        (uint256 before, uint256 batch, uint256 claim, uint256 after_, uint256 loss, uint256 length) =
            registry.stepLayout(s, b);
        require(before == 0 && batch == s && claim == batch + b && after_ == claim + 1, "step");
        require(loss == after_ + s && length == loss + 1 && length == 2 * uint256(s) + b + 2, "step length");
        uint256 outputs;
        (before, batch, outputs, length) = registry.answerLayout(s, x, k);
        require(before == 0 && batch == s && outputs == batch + x && length == outputs + k, "answer");
        (before, batch, length) = registry.evalLayout(s);
        require(before == 0 && batch == s && length == uint256(s) + 1, "evaluation");
    }

    /// (c) stepCommitments reads the parts where stepLayout puts them, and only a full step.
    function testFuzz_step_commitments_follow_the_layout(uint8 sSeed, uint8 bSeed, bytes32 tag) public {
        (uint256 s, uint256 b) = (1 + sSeed % 6, 1 + bSeed % 6);
        uint256[] memory words = _words(tag, s, b, 2 * s + b + 2);
        (bytes32 before, bytes32 batch, bytes32 after_) = registry.stepCommitments(s, b, words);
        require(before == _commit(_sub(words, 0, s)), "before");
        require(batch == _commit(_sub(words, s, b)), "batch");
        require(after_ == _commit(_sub(words, s + b + 1, s)), "after"); // past the claim word
        uint256[] memory short = _sub(words, 0, words.length - 1);
        vm.expectRevert(abi.encodeWithSelector(InstanceLayout.MalformedInstances.selector, words.length, short.length));
        registry.stepCommitments(s, b, short);
    }

    /// (e) Only the submitter the claim names is accepted: anyone else sending the same proof and
    /// instances is WrongSubmitter and changes nothing; then the named one is accepted and paid.
    function testFuzz_only_the_named_submitter_is_accepted(address named, address sender) public {
        vm.assume(sender != named && named != address(vm));
        uint256 id = _register(2, REWARD, false);
        _advance(id, 1); // unfunded: nothing paid
        _fund(id, REWARD);
        uint256[] memory instances = _stepBy(id, 1, 2, 1, named);
        bytes memory proof = abi.encode(instances);
        bytes32[] memory p = _path(id, 1);
        vm.expectRevert(abi.encodeWithSelector(ZkgradRegistry.WrongSubmitter.selector, sender, 2));
        vm.prank(sender);
        registry.submitUpdate(id, proof, instances, p, 0);
        require(registry.head(id) == _commit(_state(1)) && registry.version(id) == 1, "head stayed");
        require(registry.model(id).bounty == REWARD && registry.credit(sender) == 0, "nothing paid");
        uint256 had = named.balance + registry.credit(named);
        vm.prank(named);
        require(registry.submitUpdate(id, proof, instances, p, REWARD) == 2, "the named submitter");
        require(named.balance + registry.credit(named) == had + REWARD, "paid (or credited) to the named one");
    }

    /// (d) commit is keccak256 over the words packed as uint256 (zkgrad.layout.commit).
    function testFuzz_commit_is_packed_keccak(uint256[] calldata words) public view {
        require(registry.commit(words) == keccak256(abi.encodePacked(words)), "commit");
    }

    /// A dataset leaf is OpenZeppelin StandardMerkleTree's leaf of (uint256, bytes32).
    function testFuzz_batch_leaf_is_the_standard_leaf(uint256 index, bytes32 batchCommitment) public view {
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(index, batchCommitment))));
        require(registry.batchLeaf(index, batchCommitment) == leaf, "leaf");
    }
}
