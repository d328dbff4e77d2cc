// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";
import {ZkgradRegistry} from "../../zkgrad/contracts/ZkgradRegistry.sol";
import {ModelBook} from "../../zkgrad/contracts/ModelBook.sol";
import {StubVerifier} from "./ZkgradRegistry.t.sol";

interface InvariantVm {
    function prank(address sender) external;
    function deal(address account, uint256 balance) external;
    function roll(uint256 blockNumber) external;
}

/// Drives one registry with random sequences of funding, refunds, withdrawals, valid and invalid
/// updates from several accounts (one of which refuses ether, so it is credited), and block moves;
/// keeps ghost books of what the registry must hold. One model, one batch (nBatches 1).
contract RegistryHandler {
    InvariantVm constant vm = InvariantVm(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);
    uint256 constant MOD = 21888242871839275222246405745257275088548364400416034343698204186575808495617;
    uint256 constant S = 2;
    uint128 public constant REWARD = 1e15;

    ZkgradRegistry public immutable registry;
    uint256 public immutable id;
    address[4] public actors;
    uint256[] internal batch;

    uint256 public acceptedVersion; // the version the handler saw accepted last
    mapping(uint256 version => bytes32 state) public stateOf; // what each accepted version holds
    mapping(uint256 version => uint256 times) public paidFor; // rewards paid for each version
    uint256 public funded;
    uint256 public refunded;
    uint256 public paid;
    bool public violated; // a forged or replayed proof was accepted

    constructor() {
        registry = new ZkgradRegistry();
        StubVerifier stub = new StubVerifier();
        batch = new uint256[](2);
        (batch[0], batch[1]) = (11, 12);
        ModelBook.Terms memory t;
        (t.stepVerifier, t.answerVerifier) = (address(stub), address(stub));
        t.datasetRoot = registry.batchLeaf(0, keccak256(abi.encodePacked(batch))); // a one-leaf tree
        (t.nBatches, t.srs, t.rewardPerUpdate, t.refundDelay) = (1, keccak256("srs"), REWARD, 5);
        bytes32 genesis = keccak256(abi.encodePacked(_state(0)));
        id = registry.registerModel(t, ModelBook.Shape(uint32(S), uint32(S), 2, 1, 1), genesis, genesis, "", "{}");
        stateOf[0] = genesis;
        actors = [address(0xA11CE), address(0xB0B), address(0xCA401), address(new NoEther())];
    }

    function _state(uint256 seed) internal pure returns (uint256[] memory w) {
        w = new uint256[](S);
        (w[0], w[1]) = (seed % 3, uint256(keccak256(abi.encode(seed))) % MOD); // states recur often
    }

    function _actor(uint256 seed) internal view returns (address) {
        return actors[seed % actors.length];
    }

    function fund(uint256 who, uint256 amount) external {
        amount = amount % (3 * REWARD);
        address a = _actor(who);
        vm.deal(a, amount);
        vm.prank(a);
        registry.fund{value: amount}(id);
        funded += amount;
    }

    /// A valid update (or a forged one when `forge` is set) from the current head.
    function update(uint256 who, uint256 next, bool forge) external {
        address a = _actor(who);
        uint256 v = registry.version(id);
        uint256[] memory before = _state(v == 0 ? 0 : _seedOf[v]);
        uint256 seed = next % 4 == 0 ? (v == 0 ? 0 : _seedOf[v]) : next; // sometimes no change at all
        uint256[] memory instances = new uint256[](2 * S + 4);
        (instances[0], instances[1], instances[2], instances[3]) = (before[0], before[1], batch[0], batch[1]);
        instances[4] = registry.claimWord(id, v + 1, a);
        uint256[] memory after_ = _state(seed);
        (instances[5], instances[6], instances[7]) = (after_[0], after_[1], 7);
        bytes memory proof = abi.encode(instances);
        if (forge) proof = abi.encode(instances, uint256(1));
        uint256 had = a.balance + registry.credit(a);
        vm.prank(a);
        try registry.submitUpdate(id, proof, instances, new bytes32[](0), 0) returns (uint256 newVersion) {
            if (forge || newVersion != v + 1) violated = true; // only a valid proof of version + 1
            acceptedVersion = newVersion;
            _seedOf[newVersion] = seed;
            stateOf[newVersion] = keccak256(abi.encodePacked(after_));
            uint256 got = a.balance + registry.credit(a) - had;
            paid += got;
            if (got != 0) paidFor[newVersion] += 1;
        } catch {}
    }

    mapping(uint256 version => uint256 seed) internal _seedOf;

    /// Replay the proof of an already accepted version (it must be refused).
    function replay(uint256 who, uint256 back) external {
        uint256 v = registry.version(id);
        if (v == 0) return;
        uint256 old = 1 + back % v;
        address a = _actor(who);
        uint256[] memory before = _state(old == 1 ? 0 : _seedOf[old - 1]);
        uint256[] memory after_ = _state(_seedOf[old]);
        uint256[] memory instances = new uint256[](2 * S + 4);
        (instances[0], instances[1], instances[2], instances[3]) = (before[0], before[1], batch[0], batch[1]);
        instances[4] = registry.claimWord(id, old, a);
        (instances[5], instances[6], instances[7]) = (after_[0], after_[1], 7);
        vm.prank(a);
        try registry.submitUpdate(id, abi.encode(instances), instances, new bytes32[](0), 0) {
            violated = true; // a replayed proof was accepted
        } catch {}
    }

    function refund(uint256 who) external {
        address a = _actor(who);
        vm.prank(a);
        try registry.refund(id, payable(address(0xD00D))) returns (uint256 amount) {
            refunded += amount;
        } catch {}
    }

    function withdraw(uint256 who) external {
        address a = _actor(who);
        vm.prank(a);
        try registry.withdraw(payable(address(0xD00D))) {} catch {}
    }

    function wait(uint256 blocks) external {
        vm.roll(block.number + blocks % 8);
    }

    function creditSum() external view returns (uint256 sum) {
        for (uint256 i; i < actors.length; ++i) sum += registry.credit(actors[i]);
    }
}

/// Test only: an account that refuses ether (its rewards are credited).
contract NoEther {}

/// The registry's books under any sequence of the handler's calls.
contract RegistryInvariantsTest {
    RegistryHandler handler;

    function setUp() public {
        handler = new RegistryHandler();
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    /// The registry holds exactly the bounty plus the credits: no wei appears or disappears.
    function invariant_balance_is_bounty_plus_credits() public view {
        ZkgradRegistry r = handler.registry();
        require(address(r).balance == r.model(handler.id()).bounty + handler.creditSum(), "balance");
        require(handler.funded() == r.model(handler.id()).bounty + handler.paid() + handler.refunded(), "books");
    }

    /// The head moves only by an accepted proof of version + 1: the registry's version and head are
    /// the last the handler saw accepted, and every version holds the state its proof committed to.
    function invariant_head_moves_only_by_an_accepted_proof_of_the_next_version() public view {
        ZkgradRegistry r = handler.registry();
        uint256 id = handler.id();
        uint256 v = r.version(id);
        require(v == handler.acceptedVersion(), "version");
        require(r.head(id) == handler.stateOf(v), "head");
        for (uint256 k; k <= v; ++k) {
            require(r.getVersion(id, k).state == handler.stateOf(k), "version record");
        }
    }

    /// A forged proof, or the proof of a version already accepted, is never accepted.
    function invariant_no_forged_or_replayed_proof_is_accepted() public view {
        require(!handler.violated(), "accepted");
    }

    /// No reward is paid twice: each version is paid at most once, and never more than one reward.
    function invariant_no_reward_is_paid_twice() public view {
        uint256 v = handler.registry().version(handler.id());
        uint256 times;
        for (uint256 k = 1; k <= v; ++k) {
            require(handler.paidFor(k) <= 1, "paid twice");
            times += handler.paidFor(k);
        }
        require(handler.paid() == times * handler.REWARD(), "one reward each");
    }
}
