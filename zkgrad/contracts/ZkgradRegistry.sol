// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28; // transient storage variables (the re-entrancy lock) need 0.8.28

import {IVerifier} from "./IVerifier.sol";

/// @title ZkgradRegistry
/// @notice Models that advance only through proven training steps, and answers proven against
/// their weights. Anyone may submit; the verifiers alone decide what is accepted.
/// @dev The public-instance layout is zkgrad/layout.py; stepLayout/answerLayout repeat its offsets
/// (tests/test_layout.py fails if they drift). A proof's public values are words: a model's state
/// (its parameters, then momentum velocities) takes stateWords, of which the first weightsWords are
/// the parameters; a batch takes batchWords, an answer's input inputWords. A commitment is
/// keccak256(abi.encodePacked(words)) over uint256 words: the head is the commitment of the state,
/// an answer names the commitment of the weights (the same, without momentum).
///
/// Versions: genesis is version 0; each accepted update adds one, so the head's version is the
/// number of accepted updates. A model never returns to weights it already had: each weights
/// commitment names exactly one version, which makes a replayed update impossible (its "after"
/// commitment is already recorded) and lets an answer name a past version by its number.
/// Gas: an accepted update writes one new slot (who proved which commitment, as which version,
/// when) and the head (two more with momentum: the weights' record and headWeights); the version
/// is that record's, not a counter. The before/batch commitments and the loss word live in the
/// UpdateAccepted event, which any client can read; under zkgrad's public commitment the new
/// state's values themselves are in the transaction's calldata.
/// Replay keys: an update's is its "after" commitment (ReplayedProof also refuses a step that
/// changes nothing or returns to an older version: the lineage is a simple path, so a cycle can
/// never make an old proof acceptable again); an answer's is answerKey(modelId, instances).
/// Limits: the proofs do not bind the submitter, so whoever sees a pending submission can
/// front-run it and take its reward; binding msg.sender needs it as a public instance.
/// Needs a chain with EIP-1153 (transient storage, Cancun or later).
contract ZkgradRegistry {
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

    struct Model {
        // slot 0: read by every update
        IVerifier stepVerifier;
        uint32 stateWords;
        uint32 weightsWords;
        uint24 batchWords;
        bool rewarding; // rewardPerUpdate != 0
        // slot 1: read and written by every accepted update
        bytes32 head;
        // slot 2: the head's weights commitment, kept only when the state is more than the weights
        bytes32 headWeights;
        // slot 3: read and written by accepted updates of rewarding models
        uint128 rewardPerUpdate;
        uint128 bounty;
        // slot 4: read by every answer
        IVerifier answerVerifier;
        uint32 inputWords;
        uint32 nOutputs;
        // registration-time data
        address owner;
        bytes32 genesis;
        string name;
        string specURI;
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

    /// @notice What model() returns (standard ABI tuple).
    struct ModelInfo {
        address owner;
        address stepVerifier;
        address answerVerifier;
        Shape shape;
        bytes32 genesis;
        bytes32 head;
        bytes32 headWeights;
        uint256 version;
        uint256 rewardPerUpdate;
        uint256 bounty;
        string name;
        string specURI;
    }

    uint256 public modelCount;
    mapping(uint256 modelId => Model) private _models;
    mapping(uint256 modelId => mapping(bytes32 commitment => Weights)) private _weights;
    mapping(uint256 modelId => Answer[]) private _answers;
    mapping(bytes32 key => uint256 answerIdPlusOne) private _answerOf;
    /// @notice Rewards whose transfer failed, waiting to be withdrawn (pull payment).
    mapping(address prover => uint256 amount) public credit;
    bool private transient _locked;

    // --- errors ---------------------------------------------------------------------------
    error UnknownModel(uint256 modelId);
    error NotOwner(uint256 modelId, address caller);
    error MalformedInstances(uint256 expected, uint256 got);
    error InstanceOutOfField(uint256 index, uint256 value);
    error StaleHead(bytes32 head, bytes32 got);
    error ReplayedProof(bytes32 key);
    error InvalidProof();
    error WrongWeights(uint256 version, bytes32 got);
    error UnknownAnswer(uint256 modelId, uint256 answerId);
    error NotAContract(address account);
    error InvalidShape(Shape shape);
    error GenesisMismatch(bytes32 genesis, bytes32 genesisWeights);
    error AmountTooLarge(uint256 amount);
    error NothingToWithdraw(address account);
    error TransferFailed(address to, uint256 amount);
    error ZeroAddress();
    error Reentrancy();

    // --- events ---------------------------------------------------------------------------
    event ModelRegistered(
        uint256 indexed modelId,
        address indexed owner,
        address stepVerifier,
        address answerVerifier,
        Shape shape,
        bytes32 genesis,
        bytes32 genesisWeights,
        string name,
        string specURI
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
    event Funded(uint256 indexed modelId, address indexed funder, uint256 amount);
    event RewardPaid(uint256 indexed modelId, address indexed prover, uint256 amount, bool deferred);
    event Withdrawn(address indexed account, address to, uint256 amount);
    event RewardChanged(uint256 indexed modelId, uint256 rewardPerUpdate);
    event OwnershipTransferred(uint256 indexed modelId, address indexed previousOwner, address indexed newOwner);
    event SpecURIChanged(uint256 indexed modelId, string specURI);

    modifier nonReentrant() {
        if (_locked) revert Reentrancy();
        _locked = true;
        _;
        _locked = false;
    }

    modifier onlyOwner(uint256 modelId) {
        if (_model(modelId).owner != msg.sender) revert NotOwner(modelId, msg.sender);
        _;
    }

    // --- layout (zkgrad/layout.py) ----------------------------------------------------------
    /// @notice Start offsets of a training-step proof's public instances, and their count.
    function stepLayout(uint256 stateWords, uint256 batchWords)
        public
        pure
        returns (uint256 before, uint256 batch, uint256 after_, uint256 loss, uint256 length)
    {
        return (0, stateWords, stateWords + batchWords, 2 * stateWords + batchWords, 2 * stateWords + batchWords + 1);
    }

    /// @notice Start offsets of an inference proof's public instances, and their count.
    function answerLayout(uint256 weightsWords, uint256 inputWords, uint256 nOutputs)
        public
        pure
        returns (uint256 weights, uint256 input, uint256 outputs, uint256 length)
    {
        return (0, weightsWords, weightsWords + inputWords, weightsWords + inputWords + nOutputs);
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
        (uint256 b, uint256 x, uint256 a,, uint256 length) = stepLayout(stateWords, batchWords);
        if (instances.length != length) revert MalformedInstances(length, instances.length);
        return (_commit(instances, b, stateWords), _commit(instances, x, batchWords), _commit(instances, a, stateWords));
    }

    /// @notice The replay key of an answer: keccak256(abi.encode(modelId, instances)).
    function answerKey(uint256 modelId, uint256[] calldata instances) public pure returns (bytes32) {
        return keccak256(abi.encode(modelId, instances));
    }

    // --- models ---------------------------------------------------------------------------
    /// @notice Register a model; the caller owns it. Its genesis state is version 0;
    /// genesisWeights is the commitment of its weights (equal to genesis without momentum).
    function registerModel(
        address stepVerifier,
        address answerVerifier,
        Shape calldata shape,
        bytes32 genesis,
        bytes32 genesisWeights,
        uint256 rewardPerUpdate,
        string calldata name,
        string calldata specURI
    ) external returns (uint256 modelId) {
        if (stepVerifier.code.length == 0) revert NotAContract(stepVerifier);
        if (answerVerifier.code.length == 0) revert NotAContract(answerVerifier);
        if (
            shape.weightsWords == 0 || shape.weightsWords > shape.stateWords || shape.batchWords == 0
                || shape.batchWords > type(uint24).max || shape.inputWords == 0 || shape.nOutputs == 0
        ) revert InvalidShape(shape);
        bool momentum = shape.weightsWords < shape.stateWords;
        if (momentum == (genesisWeights == genesis)) revert GenesisMismatch(genesis, genesisWeights);
        modelId = ++modelCount;
        Model storage m = _models[modelId];
        m.stepVerifier = IVerifier(stepVerifier);
        m.stateWords = shape.stateWords;
        m.weightsWords = shape.weightsWords;
        m.batchWords = uint24(shape.batchWords);
        m.head = genesis;
        _setReward(m, rewardPerUpdate);
        m.answerVerifier = IVerifier(answerVerifier);
        m.inputWords = shape.inputWords;
        m.nOutputs = shape.nOutputs;
        m.owner = msg.sender;
        m.genesis = genesis;
        m.name = name;
        m.specURI = specURI;
        Weights memory record = Weights(msg.sender, 0, uint48(block.number));
        _weights[modelId][genesis] = record;
        if (momentum) {
            m.headWeights = genesisWeights;
            _weights[modelId][genesisWeights] = record;
        }
        emit ModelRegistered(
            modelId, msg.sender, stepVerifier, answerVerifier, shape, genesis, genesisWeights, name, specURI
        );
    }

    function setRewardPerUpdate(uint256 modelId, uint256 rewardPerUpdate) external onlyOwner(modelId) {
        _setReward(_models[modelId], rewardPerUpdate);
        emit RewardChanged(modelId, rewardPerUpdate);
    }

    function transferOwnership(uint256 modelId, address newOwner) external onlyOwner(modelId) {
        if (newOwner == address(0)) revert ZeroAddress();
        _models[modelId].owner = newOwner;
        emit OwnershipTransferred(modelId, msg.sender, newOwner);
    }

    function setSpecURI(uint256 modelId, string calldata specURI) external onlyOwner(modelId) {
        _models[modelId].specURI = specURI;
        emit SpecURIChanged(modelId, specURI);
    }

    /// @notice Add to a model's bounty; each accepted update pays rewardPerUpdate from it.
    function fund(uint256 modelId) external payable {
        Model storage m = _model(modelId);
        m.bounty = _toUint128(uint256(m.bounty) + msg.value);
        emit Funded(modelId, msg.sender, msg.value);
    }

    // --- updates --------------------------------------------------------------------------
    /// @notice Advance a model by one proven training step; returns the new version.
    /// @dev Checks, in order: model exists, instance count, field range, replay (the "after"
    /// commitment is already recorded), head (the "before" commitment), the step verifier.
    function submitUpdate(uint256 modelId, bytes calldata proof, uint256[] calldata instances)
        external
        nonReentrant
        returns (uint256 newVersion)
    {
        Model storage m = _model(modelId);
        (uint256 s, uint256 b) = (m.stateWords, m.batchWords);
        (uint256 beforeAt, uint256 batchAt, uint256 afterAt, uint256 lossAt, uint256 length) = stepLayout(s, b);
        _checkInstances(instances, length);
        bytes32 beforeC = _commit(instances, beforeAt, s);
        bytes32 afterC = _commit(instances, afterAt, s);
        Weights storage w = _weights[modelId][afterC];
        if (w.blockNumber != 0) revert ReplayedProof(afterC);
        bytes32 current = m.head;
        if (beforeC != current) revert StaleHead(current, beforeC);
        _verify(m.stepVerifier, proof, instances);

        newVersion = uint256(_weights[modelId][current].version) + 1;
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
        emit UpdateAccepted(
            modelId, newVersion, msg.sender, beforeC, afterC, _commit(instances, batchAt, b), instances[lossAt]
        );
        if (m.rewarding) _reward(modelId, m);
    }

    /// @dev Pay the reward if the bounty covers it (effects first); push it, and if the prover
    /// cannot take it, credit it for withdraw().
    function _reward(uint256 modelId, Model storage m) private {
        uint256 amount = m.rewardPerUpdate;
        uint256 bounty = m.bounty;
        if (bounty < amount) return;
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
        info = ModelInfo({
            owner: m.owner,
            stepVerifier: address(m.stepVerifier),
            answerVerifier: address(m.answerVerifier),
            shape: Shape(m.stateWords, m.weightsWords, m.batchWords, m.inputWords, m.nOutputs),
            genesis: m.genesis,
            head: m.head,
            headWeights: _headWeights(m),
            version: version(modelId),
            rewardPerUpdate: m.rewardPerUpdate,
            bounty: m.bounty,
            name: m.name,
            specURI: m.specURI
        });
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

    function _setReward(Model storage m, uint256 rewardPerUpdate) private {
        m.rewardPerUpdate = _toUint128(rewardPerUpdate);
        m.rewarding = rewardPerUpdate != 0;
    }

    function _toUint128(uint256 amount) private pure returns (uint128) {
        if (amount > type(uint128).max) revert AmountTooLarge(amount);
        return uint128(amount);
    }
}
