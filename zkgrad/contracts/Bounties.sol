// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

/// @title Bounties
/// @notice Each model's bounty: anyone funds it, each accepted update pays its submitter a fixed
/// reward from it, and what is never earned goes back to its funders, pro rata, under a rule fixed
/// at registration (refundable). A payment that cannot be pushed is credited for withdraw().
/// @dev Invariant (tests/forge): this contract's balance equals the sum of all bounties plus all
/// credits; a model's bounty never exceeds what its funders put in and have not taken back.
abstract contract Bounties is ReentrancyGuardTransient {
    using SafeCast for uint256;

    /// @dev One slot read and written by every accepted update.
    struct Pot {
        uint128 reward; // wei per accepted update, fixed at registration
        uint128 bounty; // wei left to pay rewards (and refunds) from
    }

    mapping(uint256 modelId => Pot) internal _pots;
    /// @notice Wei each funder put into a model's bounty and has not taken back.
    mapping(uint256 modelId => mapping(address funder => uint256 amount)) public contribution;
    /// @notice The sum of a model's contributions: the bounty is shared out against it.
    mapping(uint256 modelId => uint256 amount) public contributed;
    /// @notice Rewards whose transfer failed, waiting to be withdrawn (pull payment).
    mapping(address account => uint256 amount) public credit;

    /// @notice `account` has no credit to withdraw.
    error NothingToWithdraw(address account);
    /// @notice Sending `amount` wei to `to` failed.
    error TransferFailed(address to, uint256 amount);
    /// @notice The model's bounty is not refundable now (see refundable).
    error NotRefundable(uint256 modelId);
    /// @notice `funder` has no contribution to this model's bounty.
    error NothingToRefund(uint256 modelId, address funder);

    /// @notice `funder` added `amount` wei to the model's bounty.
    event Funded(uint256 indexed modelId, address indexed funder, uint256 amount);
    /// @notice `funder` took back `amount` wei, its share of the unspent bounty.
    event Refunded(uint256 indexed modelId, address indexed funder, address to, uint256 amount);
    /// @notice `prover` earned `amount` wei; `deferred`: it is credited, to be withdrawn.
    event RewardPaid(uint256 indexed modelId, address indexed prover, uint256 amount, bool deferred);
    /// @notice An accepted update earned nothing: the bounty did not cover the reward.
    event RewardSkipped(uint256 indexed modelId, address indexed prover, uint256 reward, uint256 bounty);
    /// @notice `account` withdrew `amount` wei of credit to `to`.
    event Withdrawn(address indexed account, address to, uint256 amount);

    /// @notice Add the value sent to the model's bounty.
    /// @param modelId the model to fund
    function fund(uint256 modelId) external payable nonReentrant {
        _requireModel(modelId);
        Pot storage p = _pots[modelId];
        p.bounty = (uint256(p.bounty) + msg.value).toUint128();
        contribution[modelId][msg.sender] += msg.value;
        contributed[modelId] += msg.value;
        emit Funded(modelId, msg.sender, msg.value);
    }

    /// @notice Take back the caller's share of the model's unspent bounty, sent to `to`: its
    /// contribution's fraction of all contributions, times the bounty left. Allowed once the bounty
    /// cannot pay a reward, or when no update was accepted for the model's refund delay.
    /// @param modelId the model funded
    /// @param to where the share is sent
    /// @return amount the wei sent
    function refund(uint256 modelId, address payable to) external nonReentrant returns (uint256 amount) {
        if (!refundable(modelId)) revert NotRefundable(modelId);
        uint256 mine = contribution[modelId][msg.sender];
        if (mine == 0) revert NothingToRefund(modelId, msg.sender);
        uint256 all = contributed[modelId];
        Pot storage p = _pots[modelId];
        amount = uint256(p.bounty) * mine / all; // the last funder (mine == all) takes all that is left
        p.bounty -= amount.toUint128();
        contribution[modelId][msg.sender] = 0;
        contributed[modelId] = all - mine;
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert TransferFailed(to, amount);
        emit Refunded(modelId, msg.sender, to, amount);
    }

    /// @notice Whether the model's funders may take back its bounty now: it is less than one reward
    /// (it can pay nobody), or no update was accepted for the model's refund delay.
    /// @param modelId the model
    /// @return whether `refund` would pay its funders now
    function refundable(uint256 modelId) public view virtual returns (bool);

    /// @notice Take the rewards credited to the caller, sent to `to`.
    /// @param to where the credit is sent
    /// @return amount the wei sent
    function withdraw(address payable to) external nonReentrant returns (uint256 amount) {
        amount = credit[msg.sender];
        if (amount == 0) revert NothingToWithdraw(msg.sender);
        credit[msg.sender] = 0;
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert TransferFailed(to, amount);
        emit Withdrawn(msg.sender, to, amount);
    }

    /// @notice What an accepted update would be paid now: the reward if the bounty covers it, else 0.
    function _payable(uint256 modelId) internal view returns (uint256 paid, uint256 reward, uint256 bounty) {
        Pot storage p = _pots[modelId];
        (reward, bounty) = (p.reward, p.bounty);
        paid = bounty >= reward ? reward : 0;
    }

    /// @dev Pay `msg.sender` for an accepted update (effects first); push it, and if it cannot be
    /// taken, credit it. Callers hold the re-entrancy lock.
    function _pay(uint256 modelId) internal {
        (uint256 paid, uint256 reward, uint256 bounty) = _payable(modelId);
        if (paid == 0) {
            if (reward != 0) emit RewardSkipped(modelId, msg.sender, reward, bounty);
            return;
        }
        _pots[modelId].bounty = uint128(bounty - paid);
        (bool ok,) = payable(msg.sender).call{value: paid}("");
        if (!ok) credit[msg.sender] += paid;
        emit RewardPaid(modelId, msg.sender, paid, !ok);
    }

    /// @dev Revert unless the model exists.
    function _requireModel(uint256 modelId) internal view virtual;
}
