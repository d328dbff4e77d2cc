// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IVerifier} from "./IVerifier.sol";
import {InstanceLayout} from "./InstanceLayout.sol";
import {Bounties} from "./Bounties.sol";

/// @title ModelBook
/// @notice What the registry remembers of each model (its terms, every version's commitments,
/// answers and evaluations) and the views that read it back by standard ABI.
/// @dev A model's versions are kept by number: version 0 is genesis, each accepted update adds one,
/// and two versions may hold equal states (a step that rounds to no change, a cycle).
abstract contract ModelBook is Bounties {
    /// @notice The BN254 scalar field modulus; every public instance must be below it.
    uint256 public constant FIELD_MODULUS = InstanceLayout.FIELD_MODULUS;
    /// @notice submitAnswer's version argument meaning "the current head".
    uint256 public constant HEAD = type(uint256).max;

    /// @notice How many public words each part of a model's proofs takes (zkgrad.layout).
    struct Shape {
        uint32 stateWords;
        uint32 weightsWords;
        uint32 batchWords;
        uint32 inputWords;
        uint32 nOutputs;
    }

    /// @notice What a model is, fixed at registration.
    struct Terms {
        address stepVerifier;
        address answerVerifier;
        address evalVerifier; // address(0): the model has no proven evaluation
        bytes32 datasetRoot; // StandardMerkleTree root over (index, batchCommitment)
        uint32 nBatches; // leaves in the dataset tree
        bytes32 heldOut; // commitment of the held-out set the evaluation verifier has built in
        uint32 heldOutSize;
        uint64 evalUnit; // an evaluation's output word is (number correct) * evalUnit
        bytes32 srs; // identity of the SRS the verifiers were made with (zkgrad.circuits.srs)
        uint128 rewardPerUpdate; // wei per accepted update while the bounty lasts
        uint32 refundDelay; // blocks with no accepted update after which funders may take the bounty back
    }

    struct Model {
        // slot 0: read by every update
        IVerifier stepVerifier;
        uint24 stateWords;
        uint24 weightsWords;
        uint24 batchWords;
        uint24 nBatches;
        // slot 1: read and written by every accepted update
        uint64 version;
        uint48 headBlock; // the block of the update that made the head (genesis: registeredAt)
        uint48 registeredAt;
        uint32 refundDelay;
        bytes32 datasetRoot;
        // read by answers and evaluations
        IVerifier answerVerifier;
        uint32 inputWords;
        uint32 nOutputs;
        IVerifier evalVerifier;
        uint32 heldOutSize;
        uint64 evalUnit;
        bytes32 heldOut;
        // registration-time record
        address registrant;
        bytes32 specDigest; // keccak256 of the published spec bytes
        bytes32 srs;
        bytes32 stepCodeHash;
        bytes32 answerCodeHash;
        bytes32 evalCodeHash;
        string name;
    }

    /// @notice One version of a model: its state and weights commitments. Who proved the step to it
    /// and when is in its UpdateAccepted event (indexed by model and version).
    struct Version {
        bytes32 state;
        bytes32 weights; // equal to state without momentum
    }

    /// @notice A proven answer: `submitter` sent it (no claim binds it: see docs/PROTOCOL.md).
    struct Answer {
        address submitter;
        uint48 version;
        uint48 blockNumber;
        bytes32 input; // the input commitment
        uint256[] outputs;
    }

    /// @notice A proven evaluation of one version's weights on the registered held-out set.
    struct Evaluation {
        address submitter; // who sent it (no claim binds it: see docs/PROTOCOL.md)
        uint32 correct;
        uint48 blockNumber; // 0: not evaluated
    }

    /// @notice What model() returns (standard ABI tuple).
    struct ModelInfo {
        address registrant;
        Terms terms;
        Shape shape;
        bytes32 genesis;
        bytes32 head;
        bytes32 headWeights;
        uint256 version;
        uint256 bounty;
        uint256 registeredAt; // the registration's block
        uint256 headBlock; // the block of the update that made the head (genesis: registeredAt)
        bytes32 specDigest;
        bytes32 stepCodeHash;
        bytes32 answerCodeHash;
        bytes32 evalCodeHash;
        string name;
    }

    /// @notice Models registered so far; ids run from 1.
    uint256 public modelCount;
    mapping(uint256 modelId => Model) internal _models;
    /// @dev weights is stored only with momentum (else 0: it is the state).
    mapping(uint256 modelId => mapping(uint256 version => Version)) internal _versions;
    mapping(uint256 modelId => Answer[]) internal _answers;
    mapping(bytes32 key => uint256 answerIdPlusOne) internal _answerOf;
    mapping(uint256 modelId => mapping(uint256 version => Evaluation)) internal _evaluations;

    /// @notice No model has this id.
    error UnknownModel(uint256 modelId);
    /// @notice The model has no such version yet.
    error UnknownVersion(uint256 modelId, uint256 version);
    /// @notice The model has no answer with this id.
    error UnknownAnswer(uint256 modelId, uint256 answerId);

    // --- views ----------------------------------------------------------------------------
    /// @notice The model's head: the commitment of its current state.
    /// @param modelId the model
    /// @return the head's state commitment
    function head(uint256 modelId) external view returns (bytes32) {
        return _versions[modelId][_model(modelId).version].state;
    }

    /// @notice The model's current version (genesis is 0; each accepted update adds one).
    /// @param modelId the model
    /// @return the version
    function version(uint256 modelId) external view returns (uint256) {
        return _model(modelId).version;
    }

    /// @notice One version of a model, 0 to its current version.
    /// @param modelId the model
    /// @param atVersion the version
    /// @return v its state and weights commitments
    function getVersion(uint256 modelId, uint256 atVersion) external view returns (Version memory v) {
        Model storage m = _model(modelId);
        if (atVersion > m.version) revert UnknownVersion(modelId, atVersion);
        v = _versions[modelId][atVersion];
        v.weights = _weightsOf(modelId, m, atVersion);
    }

    /// @notice Everything registered about a model, and where it stands now.
    /// @param modelId the model
    /// @return info the terms, shape, genesis, head, version, bounty and registration record
    function model(uint256 modelId) external view returns (ModelInfo memory info) {
        Model storage m = _model(modelId);
        info.registrant = m.registrant;
        info.terms = Terms({
            stepVerifier: address(m.stepVerifier),
            answerVerifier: address(m.answerVerifier),
            evalVerifier: address(m.evalVerifier),
            datasetRoot: m.datasetRoot,
            nBatches: m.nBatches,
            heldOut: m.heldOut,
            heldOutSize: m.heldOutSize,
            evalUnit: m.evalUnit,
            srs: m.srs,
            rewardPerUpdate: _pots[modelId].reward,
            refundDelay: m.refundDelay
        });
        info.shape = Shape(m.stateWords, m.weightsWords, m.batchWords, m.inputWords, m.nOutputs);
        info.genesis = _versions[modelId][0].state;
        info.version = m.version;
        info.head = _versions[modelId][m.version].state;
        info.headWeights = _weightsOf(modelId, m, m.version);
        info.bounty = _pots[modelId].bounty;
        (info.registeredAt, info.headBlock) = (m.registeredAt, m.headBlock);
        info.specDigest = m.specDigest;
        info.stepCodeHash = m.stepCodeHash;
        info.answerCodeHash = m.answerCodeHash;
        info.evalCodeHash = m.evalCodeHash;
        info.name = m.name;
    }

    /// @notice The proven evaluation of a version, if any (blockNumber 0: none).
    /// @param modelId the model
    /// @param atVersion the version
    /// @return the evaluation record
    function getEvaluation(uint256 modelId, uint256 atVersion) external view returns (Evaluation memory) {
        _model(modelId);
        return _evaluations[modelId][atVersion];
    }

    /// @notice How many answers the model has recorded.
    /// @param modelId the model
    /// @return the number of answers (ids run from 0)
    function answerCount(uint256 modelId) external view returns (uint256) {
        _model(modelId);
        return _answers[modelId].length;
    }

    /// @notice One recorded answer.
    /// @param modelId the model
    /// @param answerId its id
    /// @return the answer
    function getAnswer(uint256 modelId, uint256 answerId) external view returns (Answer memory) {
        _model(modelId);
        Answer[] storage list = _answers[modelId];
        if (answerId >= list.length) revert UnknownAnswer(modelId, answerId);
        return list[answerId];
    }

    /// @notice The id of the answer recorded for exactly these instances at this version, if any.
    /// @param modelId the model
    /// @param atVersion the version it was recorded for
    /// @param instances the answer proof's public instances
    /// @return found whether there is one
    /// @return answerId its id (0 when none)
    function findAnswer(uint256 modelId, uint256 atVersion, uint256[] calldata instances)
        external
        view
        returns (bool found, uint256 answerId)
    {
        uint256 plusOne = _answerOf[answerKey(modelId, atVersion, instances)];
        return (plusOne != 0, plusOne == 0 ? 0 : plusOne - 1);
    }

    /// @inheritdoc Bounties
    function refundable(uint256 modelId) public view override returns (bool) {
        Model storage m = _model(modelId);
        Pot storage p = _pots[modelId];
        return p.bounty < p.reward || block.number >= uint256(m.headBlock) + m.refundDelay;
    }

    // --- the layout and commitments, for any client ---------------------------------------
    /// @notice Start offsets of a training-step proof's public instances, and their count.
    /// @param stateWords words of the model's state (weights, then any momentum)
    /// @param batchWords words of one batch (x, then y)
    /// @return before offset of the state the step starts from
    /// @return batch offset of the batch
    /// @return claim offset of the claim word
    /// @return after_ offset of the state the step ends at
    /// @return loss offset of the loss word
    /// @return length the number of instances
    function stepLayout(uint256 stateWords, uint256 batchWords)
        external
        pure
        returns (uint256 before, uint256 batch, uint256 claim, uint256 after_, uint256 loss, uint256 length)
    {
        return InstanceLayout.step(stateWords, batchWords);
    }

    /// @notice Start offsets of an inference proof's public instances, and their count.
    /// @param weightsWords words of the model's weights
    /// @param inputWords words of one input
    /// @param nOutputs outputs of the model
    /// @return weights offset of the weights
    /// @return input offset of the input
    /// @return outputs offset of the outputs
    /// @return length the number of instances
    function answerLayout(uint256 weightsWords, uint256 inputWords, uint256 nOutputs)
        external
        pure
        returns (uint256 weights, uint256 input, uint256 outputs, uint256 length)
    {
        return InstanceLayout.answer(weightsWords, inputWords, nOutputs);
    }

    /// @notice Offsets of an evaluation proof's public instances (weights, then the count word).
    /// @param weightsWords words of the model's weights
    /// @return weights offset of the weights
    /// @return correct offset of the count of held-out samples classified correctly
    /// @return length the number of instances
    function evalLayout(uint256 weightsWords) external pure returns (uint256 weights, uint256 correct, uint256 length) {
        return InstanceLayout.evaluation(weightsWords);
    }

    /// @notice The claim word of a step that creates `newVersion` of a model, submitted by
    /// `submitter` here: keccak256(abi.encode(chainid, this registry, modelId, newVersion,
    /// submitter)) mod the field modulus (zkgrad.layout.claim_word).
    /// @param modelId the model
    /// @param newVersion the version the step creates
    /// @param submitter the account that may submit the proof
    /// @return the claim word the proof must carry
    function claimWord(uint256 modelId, uint256 newVersion, address submitter) external view returns (uint256) {
        return InstanceLayout.claimWord(modelId, newVersion, submitter);
    }

    /// @notice keccak256 over words packed as uint256: zkgrad.layout.commit.
    /// @param words the words
    /// @return their commitment
    function commit(uint256[] calldata words) external pure returns (bytes32) {
        return InstanceLayout.commit(words, 0, words.length);
    }

    /// @notice The before, batch and after commitments of a training-step proof's instances.
    /// @param stateWords words of the model's state
    /// @param batchWords words of one batch
    /// @param instances the proof's public instances
    /// @return before the commitment of the state the step starts from
    /// @return batch the batch's commitment
    /// @return after_ the commitment of the state the step ends at
    function stepCommitments(uint256 stateWords, uint256 batchWords, uint256[] calldata instances)
        external
        pure
        returns (bytes32 before, bytes32 batch, bytes32 after_)
    {
        (uint256 b, uint256 x,, uint256 a,, uint256 length) = InstanceLayout.step(stateWords, batchWords);
        if (instances.length != length) revert InstanceLayout.MalformedInstances(length, instances.length);
        return (
            InstanceLayout.commit(instances, b, stateWords),
            InstanceLayout.commit(instances, x, batchWords),
            InstanceLayout.commit(instances, a, stateWords)
        );
    }

    /// @notice The dataset tree's leaf for a batch: OpenZeppelin StandardMerkleTree, (uint256, bytes32).
    /// @param index the batch's place in the schedule
    /// @param batchCommitment the batch's commitment
    /// @return the leaf
    function batchLeaf(uint256 index, bytes32 batchCommitment) public pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(index, batchCommitment))));
    }

    /// @notice The replay key of an answer: keccak256(abi.encode(modelId, version, instances)).
    /// @param modelId the model
    /// @param atVersion the version the answer is proven against
    /// @param instances the answer proof's public instances
    /// @return the key
    function answerKey(uint256 modelId, uint256 atVersion, uint256[] calldata instances) public pure returns (bytes32) {
        return keccak256(abi.encode(modelId, atVersion, instances));
    }

    // --- internals ------------------------------------------------------------------------
    function _requireModel(uint256 modelId) internal view override {
        _model(modelId);
    }

    function _model(uint256 modelId) internal view returns (Model storage m) {
        m = _models[modelId];
        if (address(m.stepVerifier) == address(0)) revert UnknownModel(modelId);
    }

    /// @dev Version `v` of a model becomes its head, made in this block: `weights` 0 when it is
    /// the state (no momentum).
    function _record(Model storage m, uint256 modelId, uint256 v, bytes32 state, bytes32 weights) internal {
        Version storage r = _versions[modelId][v];
        r.state = state;
        if (weights != 0) r.weights = weights;
        (m.version, m.headBlock) = (uint64(v), uint48(block.number));
    }

    function _weightsOf(uint256 modelId, Model storage m, uint256 v) internal view returns (bytes32) {
        Version storage r = _versions[modelId][v];
        return m.weightsWords < m.stateWords ? r.weights : r.state;
    }

    function _recordAnswer(uint256 modelId, bytes32 key, uint256 v, bytes32 input, uint256[] calldata outputs)
        internal
        returns (uint256 answerId)
    {
        Answer[] storage list = _answers[modelId];
        answerId = list.length;
        Answer storage a = list.push();
        (a.submitter, a.version, a.blockNumber, a.input) = (msg.sender, uint48(v), uint48(block.number), input);
        a.outputs = outputs;
        _answerOf[key] = answerId + 1;
    }
}
