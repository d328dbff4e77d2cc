// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28; // transient storage (OpenZeppelin's ReentrancyGuardTransient) needs 0.8.24+

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IVerifier} from "./IVerifier.sol";
import {InstanceLayout} from "./InstanceLayout.sol";
import {ModelBook} from "./ModelBook.sol";

/// @title ZkgradRegistry
/// @notice Models that advance only through proven training steps on their committed dataset's
/// scheduled batches, under terms fixed at registration; answers and evaluations proven against
/// the weights of a version. Anyone may submit; the verifiers and the registered terms alone decide.
/// @dev What is stored and read back is ModelBook; bounties and payments are Bounties; where each
/// tensor sits in a proof's instances is InstanceLayout (zkgrad/layout.py).
///
/// Liveness: a model moves from version v to v + 1 by any proven step from its head whose claim
/// names the submitter and version v + 1, whatever state the step produces (a repeated state
/// included), so no step can halt a model. Each proof is accepted at most once: its claim names
/// this chain, registry, model and the version it creates, and each version is created once.
/// Needs a chain with EIP-1153 (transient storage, Cancun or later).
contract ZkgradRegistry is ModelBook {
    using SafeCast for uint256;

    /// @notice The step's "before" commitment `got` is not the model's head `head`.
    error StaleHead(bytes32 head, bytes32 got);
    /// @notice The step's claim word is not claimWord(modelId, version, sender).
    error WrongSubmitter(address sender, uint256 version);
    /// @notice This answer was already recorded for its version (key: answerKey).
    error ReplayedProof(bytes32 key);
    /// @notice The verifier refused the proof (reverted, returned false or garbage).
    error InvalidProof();
    /// @notice The update from `version` did not use the batch the dataset schedules for it.
    error WrongBatch(uint256 version, uint256 scheduleIndex, bytes32 batchCommitment);
    /// @notice The proof's weights `got` are not those of `version`.
    error WrongWeights(uint256 version, bytes32 got);
    /// @notice `account` holds no code: it cannot be a verifier.
    error NotAContract(address account);
    /// @notice The shape's word counts are zero, inconsistent or too large.
    error InvalidShape(Shape shape);
    /// @notice An evaluation verifier needs the held-out commitment, its size and the count unit.
    error IncompleteEvaluation();
    /// @notice The dataset needs a Merkle root and 1 to 2^24-1 batches.
    error InvalidDataset(bytes32 root, uint256 nBatches);
    /// @notice The spec must be published (non-empty).
    error UnpublishedSpec();
    /// @notice The refund delay must be at least one block.
    error InvalidRefundDelay();
    /// @notice With momentum the genesis weights differ from the genesis state; without, they are it.
    error GenesisMismatch(bytes32 genesis, bytes32 genesisWeights);
    /// @notice The update would pay `paid` wei, less than the submitter's `minReward`.
    error RewardBelowMinimum(uint256 paid, uint256 minReward);
    /// @notice The model has no evaluation verifier.
    error NoEvaluation(uint256 modelId);
    /// @notice This version was already evaluated.
    error AlreadyEvaluated(uint256 modelId, uint256 version);
    /// @notice The evaluation's count word is not a whole count of at most the held-out size.
    error InvalidCount(uint256 word);

    /// @notice A model was registered; `spec` is its published spec (digest: specDigest).
    event ModelRegistered(
        uint256 indexed modelId,
        address indexed registrant,
        Terms terms,
        Shape shape,
        bytes32 genesis,
        bytes32 genesisWeights,
        bytes32 specDigest,
        string name,
        bytes spec
    );
    /// @notice `prover`'s proven step moved the model from `before` to `after_`: now `version`.
    event UpdateAccepted(
        uint256 indexed modelId,
        uint256 indexed version,
        address indexed prover,
        bytes32 before,
        bytes32 after_,
        bytes32 batchCommitment,
        uint256 loss
    );
    /// @notice A proven answer of `version`'s weights; `submitter` sent it (no claim binds it).
    event AnswerAccepted(
        uint256 indexed modelId,
        uint256 indexed answerId,
        address indexed submitter,
        uint256 version,
        bytes32 input,
        uint256[] outputs
    );
    /// @notice A proven evaluation of `version`: `correct` of `total`; `submitter` sent it.
    event EvaluationAccepted(
        uint256 indexed modelId, uint256 indexed version, address indexed submitter, uint256 correct, uint256 total
    );

    // --- models ---------------------------------------------------------------------------
    /// @notice Register a model under terms that never change; the caller is its registrant and
    /// keeps no powers. Its genesis state is version 0.
    /// @param terms the verifiers, committed data, reward and refund delay
    /// @param shape the words each part of the model's proofs takes
    /// @param genesis the commitment of the genesis state
    /// @param genesisWeights the commitment of its weights (equal to genesis without momentum)
    /// @param name a label, for people
    /// @param spec the published spec (zkgrad.chain.published), kept in the ModelRegistered event
    /// @return modelId the new model's id
    function registerModel(
        Terms calldata terms,
        Shape calldata shape,
        bytes32 genesis,
        bytes32 genesisWeights,
        string calldata name,
        bytes calldata spec
    ) external returns (uint256 modelId) {
        _checkTerms(terms, shape, spec);
        bool momentum = shape.weightsWords < shape.stateWords;
        if (momentum == (genesisWeights == genesis)) revert GenesisMismatch(genesis, genesisWeights);
        modelId = ++modelCount;
        Model storage m = _models[modelId];
        m.stepVerifier = IVerifier(terms.stepVerifier);
        (m.stateWords, m.weightsWords, m.batchWords) =
            (uint24(shape.stateWords), uint24(shape.weightsWords), uint24(shape.batchWords));
        m.nBatches = uint24(terms.nBatches);
        m.refundDelay = terms.refundDelay;
        m.datasetRoot = terms.datasetRoot;
        m.answerVerifier = IVerifier(terms.answerVerifier);
        (m.inputWords, m.nOutputs) = (shape.inputWords, shape.nOutputs);
        m.evalVerifier = IVerifier(terms.evalVerifier);
        (m.heldOutSize, m.evalUnit, m.heldOut) = (terms.heldOutSize, terms.evalUnit, terms.heldOut);
        m.registrant = msg.sender;
        (m.specDigest, m.srs) = (keccak256(spec), terms.srs);
        m.stepCodeHash = terms.stepVerifier.codehash;
        m.answerCodeHash = terms.answerVerifier.codehash;
        if (terms.evalVerifier != address(0)) m.evalCodeHash = terms.evalVerifier.codehash;
        m.name = name;
        _pots[modelId].reward = terms.rewardPerUpdate;
        m.registeredAt = uint48(block.number);
        _record(m, modelId, 0, genesis, momentum ? genesisWeights : bytes32(0));
        emit ModelRegistered(modelId, msg.sender, terms, shape, genesis, genesisWeights, m.specDigest, name, spec);
    }

    // --- updates --------------------------------------------------------------------------
    /// @notice Advance a model by one proven training step from its head.
    /// @dev Checks, in order: model exists, instance count, field range, head (the "before"
    /// commitment), the claim names msg.sender and the next version (WrongSubmitter), the scheduled
    /// batch, the reward, the step verifier.
    /// @param modelId the model
    /// @param proof the step proof
    /// @param instances its public instances (InstanceLayout.step)
    /// @param batchPath the Merkle path of the batch's leaf at schedule index version % nBatches
    /// @param minReward the submission reverts unless it pays at least this many wei
    /// @return newVersion the model's version after this update
    function submitUpdate(
        uint256 modelId,
        bytes calldata proof,
        uint256[] calldata instances,
        bytes32[] calldata batchPath,
        uint256 minReward
    ) external nonReentrant returns (uint256 newVersion) {
        Model storage m = _model(modelId);
        (uint256 s, uint256 b) = (m.stateWords, m.batchWords);
        (uint256 beforeAt, uint256 batchAt, uint256 claimAt, uint256 afterAt, uint256 lossAt, uint256 length) =
            InstanceLayout.step(s, b);
        InstanceLayout.check(instances, length);
        uint256 current = m.version;
        bytes32 headC = _versions[modelId][current].state;
        bytes32 beforeC = InstanceLayout.commit(instances, beforeAt, s);
        if (beforeC != headC) revert StaleHead(headC, beforeC);
        newVersion = current + 1;
        if (instances[claimAt] != InstanceLayout.claimWord(modelId, newVersion, msg.sender)) {
            revert WrongSubmitter(msg.sender, newVersion);
        }
        bytes32 batchC = InstanceLayout.commit(instances, batchAt, b);
        uint256 index = current % m.nBatches;
        if (!MerkleProof.verifyCalldata(batchPath, m.datasetRoot, batchLeaf(index, batchC))) {
            revert WrongBatch(current, index, batchC);
        }
        (uint256 paid,,) = _payable(modelId);
        if (paid < minReward) revert RewardBelowMinimum(paid, minReward);
        _verify(m.stepVerifier, proof, instances);

        bytes32 afterC = InstanceLayout.commit(instances, afterAt, s);
        bytes32 weightsC = m.weightsWords < s ? InstanceLayout.commit(instances, afterAt, m.weightsWords) : bytes32(0);
        _record(m, modelId, newVersion.toUint64(), afterC, weightsC);
        emit UpdateAccepted(modelId, newVersion, msg.sender, beforeC, afterC, batchC, instances[lossAt]);
        _pay(modelId);
    }

    // --- evaluations ----------------------------------------------------------------------
    /// @notice Record a proven evaluation of the head weights on the registered held-out set.
    /// @dev The held-out set is built into the evaluation verifier (its code hash is a term), so a
    /// proof on any other set does not verify. One evaluation per version; it names the head's.
    /// @param modelId the model
    /// @param proof the evaluation proof
    /// @param instances its public instances (InstanceLayout.evaluation)
    /// @return evaluated the version evaluated (the head's)
    /// @return correct how many held-out samples the weights classify correctly
    function submitEvaluation(uint256 modelId, bytes calldata proof, uint256[] calldata instances)
        external
        nonReentrant
        returns (uint256 evaluated, uint256 correct)
    {
        Model storage m = _model(modelId);
        if (address(m.evalVerifier) == address(0)) revert NoEvaluation(modelId);
        (uint256 weightsAt, uint256 countAt, uint256 length) = InstanceLayout.evaluation(m.weightsWords);
        InstanceLayout.check(instances, length);
        evaluated = _resolve(modelId, m, HEAD, InstanceLayout.commit(instances, weightsAt, m.weightsWords));
        Evaluation storage e = _evaluations[modelId][evaluated];
        if (e.blockNumber != 0) revert AlreadyEvaluated(modelId, evaluated);
        uint256 word = instances[countAt];
        correct = word / m.evalUnit;
        if (word % m.evalUnit != 0 || correct > m.heldOutSize) revert InvalidCount(word);
        _verify(m.evalVerifier, proof, instances);
        (e.submitter, e.correct, e.blockNumber) = (msg.sender, uint32(correct), uint48(block.number));
        emit EvaluationAccepted(modelId, evaluated, msg.sender, correct, m.heldOutSize);
    }

    // --- answers --------------------------------------------------------------------------
    /// @notice Record a proven answer of the model's weights at `atVersion` (HEAD: the head's).
    /// @dev Checks, in order: model exists, instance count, field range, the weights are those of
    /// the version named, the same answer was not recorded for that version, the answer verifier.
    /// The answer is recorded for exactly that version, even where another version has equal weights.
    /// @param modelId the model
    /// @param atVersion the version whose weights answered, or HEAD
    /// @param proof the inference proof
    /// @param instances its public instances (InstanceLayout.answer)
    /// @return answerId the answer's index in the model's list
    function submitAnswer(uint256 modelId, uint256 atVersion, bytes calldata proof, uint256[] calldata instances)
        external
        nonReentrant
        returns (uint256 answerId)
    {
        Model storage m = _model(modelId);
        (uint256 w, uint256 x) = (m.weightsWords, m.inputWords);
        (uint256 weightsAt, uint256 inputAt, uint256 outputsAt, uint256 length) = InstanceLayout.answer(w, x, m.nOutputs);
        InstanceLayout.check(instances, length);
        uint256 resolved = _resolve(modelId, m, atVersion, InstanceLayout.commit(instances, weightsAt, w));
        bytes32 key = answerKey(modelId, resolved, instances);
        if (_answerOf[key] != 0) revert ReplayedProof(key);
        _verify(m.answerVerifier, proof, instances);
        bytes32 input = InstanceLayout.commit(instances, inputAt, x);
        answerId = _recordAnswer(modelId, key, resolved, input, instances[outputsAt:]);
        emit AnswerAccepted(modelId, answerId, msg.sender, resolved, input, instances[outputsAt:]);
    }

    // --- internals ------------------------------------------------------------------------
    /// @dev The version whose weights a proof must have (`named`, or HEAD: the head's), checked.
    function _resolve(uint256 modelId, Model storage m, uint256 named, bytes32 weights) private view returns (uint256 v) {
        uint256 current = m.version;
        v = named == HEAD ? current : named;
        if (v > current || _weightsOf(modelId, m, v) != weights) revert WrongWeights(v, weights);
    }

    function _checkTerms(Terms calldata t, Shape calldata shape, bytes calldata spec) private view {
        if (t.stepVerifier.code.length == 0) revert NotAContract(t.stepVerifier);
        if (t.answerVerifier.code.length == 0) revert NotAContract(t.answerVerifier);
        if (t.evalVerifier != address(0)) {
            if (t.evalVerifier.code.length == 0) revert NotAContract(t.evalVerifier);
            if (t.heldOut == 0 || t.heldOutSize == 0 || t.evalUnit == 0) revert IncompleteEvaluation();
        }
        if (t.datasetRoot == 0 || t.nBatches == 0 || t.nBatches > type(uint24).max) {
            revert InvalidDataset(t.datasetRoot, t.nBatches);
        }
        if (spec.length == 0) revert UnpublishedSpec();
        if (t.refundDelay == 0) revert InvalidRefundDelay();
        if (
            shape.weightsWords == 0 || shape.weightsWords > shape.stateWords || shape.stateWords > type(uint24).max
                || shape.batchWords == 0 || shape.batchWords > type(uint24).max || shape.inputWords == 0
                || shape.nOutputs == 0
        ) revert InvalidShape(shape);
    }

    /// @dev A revert, a false, or anything but one ABI-encoded true is InvalidProof. A staticcall:
    /// a verifier cannot change any state, this registry's included.
    function _verify(IVerifier verifier, bytes calldata proof, uint256[] calldata instances) private view {
        bytes memory data = abi.encodeCall(IVerifier.verifyProof, (proof, instances));
        bool accepted;
        assembly ("memory-safe") {
            // the first return word lands in scratch space; nothing else is copied
            let ok := staticcall(gas(), verifier, add(data, 32), mload(data), 0, 32)
            accepted := and(ok, and(gt(returndatasize(), 31), eq(mload(0), 1)))
        }
        if (!accepted) revert InvalidProof();
    }
}
