// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28; // transient storage (OpenZeppelin's ReentrancyGuardTransient) needs 0.8.24+

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IVerifier} from "./IVerifier.sol";

/// @title ZkgradRegistry
/// @notice Models that advance only through proven training steps on their committed dataset's
/// scheduled batches, under terms fixed at registration; answers and evaluations proven against
/// their head weights. Anyone may submit; the verifiers and the registered terms alone decide.
/// @dev The public-instance layout is zkgrad/layout.py; stepLayout/answerLayout/evalLayout repeat
/// its offsets (tests/test_layout.py fails if they drift). A proof's public values are words: a
/// model's state (its parameters, then momentum velocities) takes stateWords, of which the first
/// weightsWords are the parameters; a batch takes batchWords, an answer's input inputWords. A
/// training step's words are [before (S) | batch (B) | claim (1) | after (S) | loss (1)], 2S+B+2.
/// A commitment is keccak256(abi.encodePacked(words)) over uint256 words: the head is the
/// commitment of the state, answers and evaluations name the commitment of the weights.
///
/// Claim: a step proof names who may submit it (claimWord: chain, this registry, model, the
/// version the step creates, submitter); an update is refused unless it names msg.sender, so a
/// copied proof pays no one but its producer.
///
/// Terms (registerModel) never change: the three verifiers and their code hashes, the digest of
/// the published spec (whose bytes are in the ModelRegistered event), the SRS identity, the
/// dataset's Merkle root and length, the held-out set's commitment and size, the genesis and the
/// reward per update. The registrant has no powers after registration.
///
/// Data: the update that starts at version v must use the batch with schedule index
/// v % nBatches. Its leaf is OpenZeppelin's StandardMerkleTree leaf of (uint256 index, bytes32
/// batchCommitment); the submission carries the Merkle path (zkgrad/merkle.py builds the tree).
///
/// Versions: genesis is version 0; each accepted update adds one. A model never returns to a
/// state it already had: each commitment names exactly one version, which makes a replayed update
/// impossible (its "after" commitment is already recorded).
/// Needs a chain with EIP-1153 (transient storage, Cancun or later).
contract ZkgradRegistry is ReentrancyGuardTransient {
    /// @notice The BN254 scalar field modulus; every public instance must be below it.
    uint256 public constant FIELD_MODULUS =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;
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
    }

    struct Model {
        // slot 0: read by every update
        IVerifier stepVerifier;
        uint24 stateWords;
        uint24 weightsWords;
        uint24 batchWords;
        uint24 nBatches;
        // slot 1, 2: read (and written) by every accepted update
        bytes32 head;
        bytes32 datasetRoot;
        // slot 3: the head's weights commitment, kept only when the state is more than the weights
        bytes32 headWeights;
        // slot 4: read and written by accepted updates
        uint128 rewardPerUpdate;
        uint128 bounty;
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
        bytes32 genesis;
        bytes32 specDigest; // keccak256 of the published spec bytes
        bytes32 srs;
        bytes32 stepCodeHash;
        bytes32 answerCodeHash;
        bytes32 evalCodeHash;
        string name;
    }

    /// @dev One slot: who proved the step that led to a commitment, which version it is, when.
    struct Weights {
        address prover;
        uint48 version;
        uint48 blockNumber; // 0: commitment unknown to this model
    }

    struct Answer {
        address prover;
        uint48 version;
        uint48 blockNumber;
        bytes32 input; // the input commitment
        uint256[] outputs;
    }

    /// @notice A proven evaluation of one version's weights on the registered held-out set.
    struct Evaluation {
        address prover;
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
        bytes32 specDigest;
        bytes32 stepCodeHash;
        bytes32 answerCodeHash;
        bytes32 evalCodeHash;
        string name;
    }

    uint256 public modelCount;
    mapping(uint256 modelId => Model) private _models;
    mapping(uint256 modelId => mapping(bytes32 commitment => Weights)) private _weights;
    mapping(uint256 modelId => Answer[]) private _answers;
    mapping(bytes32 key => uint256 answerIdPlusOne) private _answerOf;
    mapping(uint256 modelId => mapping(uint256 version => Evaluation)) private _evaluations;
    /// @notice Rewards whose transfer failed, waiting to be withdrawn (pull payment).
    mapping(address prover => uint256 amount) public credit;

    // --- errors ---------------------------------------------------------------------------
    error UnknownModel(uint256 modelId);
    error MalformedInstances(uint256 expected, uint256 got);
    error InstanceOutOfField(uint256 index, uint256 value);
    error StaleHead(bytes32 head, bytes32 got);
    /// @notice The step's claim word is not claimWord(modelId, version, sender).
    error WrongSubmitter(address sender, uint256 version);
    error ReplayedProof(bytes32 key);
    error InvalidProof();
    error WrongBatch(uint256 version, uint256 scheduleIndex, bytes32 batchCommitment);
    error WrongWeights(uint256 version, bytes32 got);
    error UnknownAnswer(uint256 modelId, uint256 answerId);
    error NotAContract(address account);
    error InvalidShape(Shape shape);
    error InvalidTerms(string reason);
    error GenesisMismatch(bytes32 genesis, bytes32 genesisWeights);
    error RewardBelowMinimum(uint256 paid, uint256 minReward);
    error NoEvaluation(uint256 modelId);
    error AlreadyEvaluated(uint256 modelId, uint256 version);
    error InvalidCount(uint256 word);
    error AmountTooLarge(uint256 amount);
    error NothingToWithdraw(address account);
    error TransferFailed(address to, uint256 amount);

    // --- events ---------------------------------------------------------------------------
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
    event UpdateAccepted(
        uint256 indexed modelId,
        uint256 indexed version,
        address indexed prover,
        bytes32 before,
        bytes32 after_,
        bytes32 batchCommitment,
        uint256 loss
    );
    event AnswerAccepted(
        uint256 indexed modelId,
        uint256 indexed answerId,
        address indexed prover,
        uint256 version,
        bytes32 input,
        uint256[] outputs
    );
    event EvaluationAccepted(
        uint256 indexed modelId, uint256 indexed version, address indexed prover, uint256 correct, uint256 total
    );
    event Funded(uint256 indexed modelId, address indexed funder, uint256 amount);
    event RewardPaid(uint256 indexed modelId, address indexed prover, uint256 amount, bool deferred);
    /// @notice An accepted update earned nothing: the bounty did not cover the reward.
    event RewardSkipped(uint256 indexed modelId, address indexed prover, uint256 reward, uint256 bounty);
    event Withdrawn(address indexed account, address to, uint256 amount);

    // --- layout (zkgrad/layout.py) ----------------------------------------------------------
    /// @notice Start offsets of a training-step proof's public instances, and their count.
    function stepLayout(uint256 stateWords, uint256 batchWords)
        public
        pure
        returns (uint256 before, uint256 batch, uint256 claim, uint256 after_, uint256 loss, uint256 length)
    {
        claim = stateWords + batchWords;
        return (0, stateWords, claim, claim + 1, claim + 1 + stateWords, claim + 2 + stateWords);
    }

    /// @notice The claim word of a step that creates `newVersion` of a model, submitted by
    /// `submitter` here: keccak256(abi.encode(chainid, this registry, modelId, newVersion,
    /// submitter)) mod FIELD_MODULUS (zkgrad.layout.claim_word).
    function claimWord(uint256 modelId, uint256 newVersion, address submitter) public view returns (uint256) {
        return uint256(keccak256(abi.encode(block.chainid, address(this), modelId, newVersion, submitter)))
            % FIELD_MODULUS;
    }

    /// @notice Start offsets of an inference proof's public instances, and their count.
    function answerLayout(uint256 weightsWords, uint256 inputWords, uint256 nOutputs)
        public
        pure
        returns (uint256 weights, uint256 input, uint256 outputs, uint256 length)
    {
        return (0, weightsWords, weightsWords + inputWords, weightsWords + inputWords + nOutputs);
    }

    /// @notice Offsets of an evaluation proof's public instances (weights, then the count word).
    function evalLayout(uint256 weightsWords) public pure returns (uint256 weights, uint256 correct, uint256 length) {
        return (0, weightsWords, weightsWords + 1);
    }

    /// @notice keccak256 over words packed as uint256: zkgrad.layout.commit.
    function commit(uint256[] calldata words) external pure returns (bytes32) {
        return _commit(words, 0, words.length);
    }

    /// @notice The before, batch and after commitments of a training-step proof's instances.
    function stepCommitments(uint256 stateWords, uint256 batchWords, uint256[] calldata instances)
        external
        pure
        returns (bytes32 before, bytes32 batch, bytes32 after_)
    {
        (uint256 b, uint256 x,, uint256 a,, uint256 length) = stepLayout(stateWords, batchWords);
        if (instances.length != length) revert MalformedInstances(length, instances.length);
        return (_commit(instances, b, stateWords), _commit(instances, x, batchWords), _commit(instances, a, stateWords));
    }

    /// @notice The dataset tree's leaf for a batch: OpenZeppelin StandardMerkleTree, (uint256, bytes32).
    function batchLeaf(uint256 index, bytes32 batchCommitment) public pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(index, batchCommitment))));
    }

    /// @notice The replay key of an answer: keccak256(abi.encode(modelId, instances)).
    function answerKey(uint256 modelId, uint256[] calldata instances) public pure returns (bytes32) {
        return keccak256(abi.encode(modelId, instances));
    }

    // --- models ---------------------------------------------------------------------------
    /// @notice Register a model under terms that never change. Its genesis state is version 0;
    /// genesisWeights is the commitment of its weights (equal to genesis without momentum); `spec`
    /// is the published spec (zkgrad.chain.published), kept in the ModelRegistered event.
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
        m.stateWords = uint24(shape.stateWords);
        m.weightsWords = uint24(shape.weightsWords);
        m.batchWords = uint24(shape.batchWords);
        m.nBatches = uint24(terms.nBatches);
        m.head = genesis;
        m.datasetRoot = terms.datasetRoot;
        m.rewardPerUpdate = terms.rewardPerUpdate;
        m.answerVerifier = IVerifier(terms.answerVerifier);
        m.inputWords = shape.inputWords;
        m.nOutputs = shape.nOutputs;
        m.evalVerifier = IVerifier(terms.evalVerifier);
        m.heldOutSize = terms.heldOutSize;
        m.evalUnit = terms.evalUnit;
        m.heldOut = terms.heldOut;
        m.registrant = msg.sender;
        m.genesis = genesis;
        m.specDigest = keccak256(spec);
        m.srs = terms.srs;
        m.stepCodeHash = terms.stepVerifier.codehash;
        m.answerCodeHash = terms.answerVerifier.codehash;
        if (terms.evalVerifier != address(0)) m.evalCodeHash = terms.evalVerifier.codehash;
        m.name = name;
        Weights memory record = Weights(msg.sender, 0, uint48(block.number));
        _weights[modelId][genesis] = record;
        if (momentum) {
            m.headWeights = genesisWeights;
            _weights[modelId][genesisWeights] = record;
        }
        emit ModelRegistered(modelId, msg.sender, terms, shape, genesis, genesisWeights, m.specDigest, name, spec);
    }

    /// @notice Add to a model's bounty; each accepted update pays rewardPerUpdate from it.
    function fund(uint256 modelId) external payable {
        Model storage m = _model(modelId);
        m.bounty = _toUint128(uint256(m.bounty) + msg.value);
        emit Funded(modelId, msg.sender, msg.value);
    }

    // --- updates --------------------------------------------------------------------------
    /// @notice Advance a model by one proven training step; returns the new version.
    /// `batchPath` proves the batch is the one the dataset schedules for this version; the
    /// submission reverts unless it pays at least `minReward`.
    /// @dev Checks, in order: model exists, instance count, field range, replay (the "after"
    /// commitment is already recorded), head (the "before" commitment), the claim names
    /// msg.sender (WrongSubmitter), the scheduled batch, the reward, the step verifier.
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
            stepLayout(s, b);
        _checkInstances(instances, length);
        bytes32 beforeC = _commit(instances, beforeAt, s);
        bytes32 afterC = _commit(instances, afterAt, s);
        Weights storage w = _weights[modelId][afterC];
        if (w.blockNumber != 0) revert ReplayedProof(afterC);
        bytes32 current = m.head;
        if (beforeC != current) revert StaleHead(current, beforeC);
        newVersion = uint256(_weights[modelId][current].version) + 1;
        // The claim names chain, registry, model and version: a proof is accepted at most once
        // here (each version is created once) and on no other chain or registry, with no storage.
        if (instances[claimAt] != claimWord(modelId, newVersion, msg.sender)) {
            revert WrongSubmitter(msg.sender, newVersion);
        }
        bytes32 batchC = _commit(instances, batchAt, b);
        uint256 index = (newVersion - 1) % m.nBatches;
        if (!MerkleProof.verifyCalldata(batchPath, m.datasetRoot, batchLeaf(index, batchC))) {
            revert WrongBatch(newVersion - 1, index, batchC);
        }
        (uint256 reward, uint256 bounty) = (m.rewardPerUpdate, m.bounty);
        uint256 paid = bounty >= reward ? reward : 0;
        if (paid < minReward) revert RewardBelowMinimum(paid, minReward);
        _verify(m.stepVerifier, proof, instances);

        m.head = afterC;
        w.prover = msg.sender;
        w.version = uint48(newVersion);
        w.blockNumber = uint48(block.number);
        if (m.weightsWords < s) {
            bytes32 weightsC = _commit(instances, afterAt, m.weightsWords);
            if (_weights[modelId][weightsC].blockNumber != 0) revert ReplayedProof(weightsC);
            m.headWeights = weightsC;
            _weights[modelId][weightsC] = Weights(msg.sender, uint48(newVersion), uint48(block.number));
        }
        emit UpdateAccepted(modelId, newVersion, msg.sender, beforeC, afterC, batchC, instances[lossAt]);
        if (paid != 0) _pay(modelId, m, paid, bounty);
        else if (reward != 0) emit RewardSkipped(modelId, msg.sender, reward, bounty);
    }

    /// @dev Pay the reward (effects first); push it, and if the prover cannot take it, credit it
    /// for withdraw().
    function _pay(uint256 modelId, Model storage m, uint256 amount, uint256 bounty) private {
        m.bounty = uint128(bounty - amount);
        (bool ok,) = payable(msg.sender).call{value: amount}("");
        if (!ok) credit[msg.sender] += amount;
        emit RewardPaid(modelId, msg.sender, amount, !ok);
    }

    /// @notice Take the rewards credited to the caller, sent to `to`.
    function withdraw(address payable to) external nonReentrant returns (uint256 amount) {
        amount = credit[msg.sender];
        if (amount == 0) revert NothingToWithdraw(msg.sender);
        credit[msg.sender] = 0;
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert TransferFailed(to, amount);
        emit Withdrawn(msg.sender, to, amount);
    }

    // --- evaluations ----------------------------------------------------------------------
    /// @notice Record a proven evaluation of the head weights on the registered held-out set;
    /// returns the version evaluated and the number of held-out samples classified correctly.
    /// @dev The held-out set is built into the evaluation verifier (its code hash is a term), so
    /// a proof on any other set does not verify. One evaluation per version.
    function submitEvaluation(uint256 modelId, bytes calldata proof, uint256[] calldata instances)
        external
        nonReentrant
        returns (uint256 evaluated, uint256 correct)
    {
        Model storage m = _model(modelId);
        if (address(m.evalVerifier) == address(0)) revert NoEvaluation(modelId);
        (uint256 weightsAt, uint256 countAt, uint256 length) = evalLayout(m.weightsWords);
        _checkInstances(instances, length);
        evaluated = _resolve(modelId, m, HEAD, _commit(instances, weightsAt, m.weightsWords));
        Evaluation storage e = _evaluations[modelId][evaluated];
        if (e.blockNumber != 0) revert AlreadyEvaluated(modelId, evaluated);
        uint256 word = instances[countAt];
        correct = word / m.evalUnit;
        if (word % m.evalUnit != 0 || correct > m.heldOutSize) revert InvalidCount(word);
        _verify(m.evalVerifier, proof, instances);
        (e.prover, e.correct, e.blockNumber) = (msg.sender, uint32(correct), uint48(block.number));
        emit EvaluationAccepted(modelId, evaluated, msg.sender, correct, m.heldOutSize);
    }

    /// @notice The proven evaluation of a version, if any (blockNumber 0: none).
    function getEvaluation(uint256 modelId, uint256 atVersion) external view returns (Evaluation memory) {
        _model(modelId);
        return _evaluations[modelId][atVersion];
    }

    // --- answers --------------------------------------------------------------------------
    /// @notice Record a proven answer of the model at `atVersion` (HEAD: the current head).
    /// @dev Checks, in order: model exists, instance count, field range, the weights commitment
    /// is that of `atVersion`, replay (the same instances answered before), the answer verifier.
    function submitAnswer(uint256 modelId, uint256 atVersion, bytes calldata proof, uint256[] calldata instances)
        external
        nonReentrant
        returns (uint256 answerId)
    {
        Model storage m = _model(modelId);
        (uint256 w, uint256 x) = (m.weightsWords, m.inputWords);
        (uint256 weightsAt, uint256 inputAt, uint256 outputsAt, uint256 length) = answerLayout(w, x, m.nOutputs);
        _checkInstances(instances, length);
        uint256 resolved = _resolve(modelId, m, atVersion, _commit(instances, weightsAt, w));
        bytes32 key = answerKey(modelId, instances);
        if (_answerOf[key] != 0) revert ReplayedProof(key);
        _verify(m.answerVerifier, proof, instances);

        answerId = _record(modelId, key, resolved, _commit(instances, inputAt, x), instances[outputsAt:]);
    }

    function _record(uint256 modelId, bytes32 key, uint256 resolved, bytes32 input, uint256[] calldata outputs)
        private
        returns (uint256 answerId)
    {
        Answer[] storage list = _answers[modelId];
        answerId = list.length;
        Answer storage a = list.push();
        a.prover = msg.sender;
        a.version = uint48(resolved);
        a.blockNumber = uint48(block.number);
        a.input = input;
        a.outputs = outputs;
        _answerOf[key] = answerId + 1;
        emit AnswerAccepted(modelId, answerId, msg.sender, resolved, input, outputs);
    }

    /// @dev The version an answer's weights must be (HEAD: the current one), checked.
    function _resolve(uint256 modelId, Model storage m, uint256 named, bytes32 weights)
        private
        view
        returns (uint256)
    {
        if (named == HEAD) {
            bytes32 current = _headWeights(m);
            uint256 headVersion = _weights[modelId][current].version;
            if (weights != current) revert WrongWeights(headVersion, weights);
            return headVersion;
        }
        Weights storage w = _weights[modelId][weights];
        if (w.blockNumber == 0 || w.version != named) revert WrongWeights(named, weights);
        return named;
    }

    // --- views ----------------------------------------------------------------------------
    function head(uint256 modelId) external view returns (bytes32) {
        return _model(modelId).head;
    }

    function version(uint256 modelId) public view returns (uint256) {
        return _weights[modelId][_model(modelId).head].version;
    }

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
            rewardPerUpdate: m.rewardPerUpdate
        });
        info.shape = Shape(m.stateWords, m.weightsWords, m.batchWords, m.inputWords, m.nOutputs);
        info.genesis = m.genesis;
        info.head = m.head;
        info.headWeights = _headWeights(m);
        info.version = version(modelId);
        info.bounty = m.bounty;
        info.specDigest = m.specDigest;
        info.stepCodeHash = m.stepCodeHash;
        info.answerCodeHash = m.answerCodeHash;
        info.evalCodeHash = m.evalCodeHash;
        info.name = m.name;
    }

    /// @notice Which version a weights commitment is, who proved the step to it, and when
    /// (version 0: genesis, proved by nobody, "prover" is the registrant).
    function getUpdate(uint256 modelId, bytes32 commitment)
        external
        view
        returns (bool known, uint256 updateVersion, address prover, uint256 blockNumber)
    {
        _model(modelId);
        Weights storage w = _weights[modelId][commitment];
        return (w.blockNumber != 0, w.version, w.prover, w.blockNumber);
    }

    function answerCount(uint256 modelId) external view returns (uint256) {
        _model(modelId);
        return _answers[modelId].length;
    }

    function getAnswer(uint256 modelId, uint256 answerId) external view returns (Answer memory) {
        _model(modelId);
        Answer[] storage list = _answers[modelId];
        if (answerId >= list.length) revert UnknownAnswer(modelId, answerId);
        return list[answerId];
    }

    /// @notice The id of the answer recorded for exactly these instances, if any.
    function findAnswer(uint256 modelId, uint256[] calldata instances)
        external
        view
        returns (bool found, uint256 answerId)
    {
        uint256 plusOne = _answerOf[answerKey(modelId, instances)];
        return (plusOne != 0, plusOne == 0 ? 0 : plusOne - 1);
    }

    // --- internals ------------------------------------------------------------------------
    function _checkTerms(Terms calldata t, Shape calldata shape, bytes calldata spec) private view {
        if (t.stepVerifier.code.length == 0) revert NotAContract(t.stepVerifier);
        if (t.answerVerifier.code.length == 0) revert NotAContract(t.answerVerifier);
        if (t.evalVerifier != address(0)) {
            if (t.evalVerifier.code.length == 0) revert NotAContract(t.evalVerifier);
            if (t.heldOut == 0 || t.heldOutSize == 0 || t.evalUnit == 0) {
                revert InvalidTerms("an evaluation verifier needs the held-out commitment, size and unit");
            }
        }
        if (t.datasetRoot == 0 || t.nBatches == 0 || t.nBatches > type(uint24).max) {
            revert InvalidTerms("the dataset needs a Merkle root and 1 to 2^24-1 batches");
        }
        if (spec.length == 0) revert InvalidTerms("the spec must be published");
        if (
            shape.weightsWords == 0 || shape.weightsWords > shape.stateWords || shape.stateWords > type(uint24).max
                || shape.batchWords == 0 || shape.batchWords > type(uint24).max || shape.inputWords == 0
                || shape.nOutputs == 0
        ) revert InvalidShape(shape);
    }

    function _headWeights(Model storage m) private view returns (bytes32) {
        return m.weightsWords < m.stateWords ? m.headWeights : m.head;
    }

    function _model(uint256 modelId) private view returns (Model storage m) {
        m = _models[modelId];
        if (address(m.stepVerifier) == address(0)) revert UnknownModel(modelId);
    }

    function _checkInstances(uint256[] calldata instances, uint256 length) private pure {
        if (instances.length != length) revert MalformedInstances(length, instances.length);
        for (uint256 i; i < length; ++i) {
            if (instances[i] >= FIELD_MODULUS) revert InstanceOutOfField(i, instances[i]);
        }
    }

    /// @dev A revert, a false, or anything but one ABI-encoded true is InvalidProof.
    function _verify(IVerifier verifier, bytes calldata proof, uint256[] calldata instances) private {
        bytes memory data = abi.encodeCall(IVerifier.verifyProof, (proof, instances));
        bool accepted;
        assembly ("memory-safe") {
            // the first return word lands in scratch space; nothing else is copied
            let ok := call(gas(), verifier, 0, add(data, 32), mload(data), 0, 32)
            accepted := and(ok, and(gt(returndatasize(), 31), eq(mload(0), 1)))
        }
        if (!accepted) revert InvalidProof();
    }

    /// @dev keccak256 of words[start .. start + n] packed; the caller has checked the bounds.
    function _commit(uint256[] calldata words, uint256 start, uint256 n) private pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            calldatacopy(ptr, add(words.offset, shl(5, start)), shl(5, n))
            h := keccak256(ptr, shl(5, n))
        }
    }

    function _toUint128(uint256 amount) private pure returns (uint128) {
        if (amount > type(uint128).max) revert AmountTooLarge(amount);
        return uint128(amount);
    }
}
